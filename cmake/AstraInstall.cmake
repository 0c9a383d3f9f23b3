# `cmake --install BUILD --prefix P`: the astra and astra-sim executables (P/bin), the static
# libraries of the public API astra::service (P/lib), their headers (P/include/astra/...,
# <astra/service.hpp> as P/include/astra/service.hpp) and the CMake package `astra`
# (P/lib/cmake/astra) that an application uses with
#   find_package(astra REQUIRED)
#   target_link_libraries(app PRIVATE astra::service)
# See examples/standalone and docs/writing-a-service.md. Included last by the top-level
# CMakeLists.txt, once every component target exists.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(ASTRA_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/astra)
set(ASTRA_INSTALL_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR}/astra)

# The exported targets: astra_service_api and everything it links, found by walking the link
# graph (so a component library added later is exported without being listed here), plus the
# layer aggregates astra_actors / astra_protocols for users of the lower-level APIs.
function(astra_collect_link_closure out)
  set(seen "")
  set(todo ${ARGN})
  while(todo)
    list(POP_FRONT todo t)
    if(NOT TARGET ${t})
      continue()
    endif()
    get_target_property(aliased ${t} ALIASED_TARGET)
    if(aliased)
      set(t ${aliased})
    endif()
    get_target_property(imported ${t} IMPORTED)
    if(imported OR t IN_LIST seen)
      continue()
    endif()
    list(APPEND seen ${t})
    get_target_property(type ${t} TYPE)
    set(deps "")
    if(NOT type STREQUAL "INTERFACE_LIBRARY")
      get_target_property(deps ${t} LINK_LIBRARIES)
    endif()
    get_target_property(ideps ${t} INTERFACE_LINK_LIBRARIES)
    foreach(d IN LISTS deps ideps)
      # $<LINK_ONLY:x> (private links of a static library) and similar one-argument wrappers
      if(d MATCHES "^\\$<[A-Z_]+:([^$<>]+)>$")
        set(d ${CMAKE_MATCH_1})
      endif()
      if(d AND TARGET ${d})
        list(APPEND todo ${d})
      endif()
    endforeach()
  endwhile()
  set(${out} ${seen} PARENT_SCOPE)
endfunction()

astra_collect_link_closure(ASTRA_EXPORTED_TARGETS astra_service_api astra_actors astra_protocols)

foreach(t IN LISTS ASTRA_EXPORTED_TARGETS)
  # astra_service_api -> astra::service; astra_actors_agi -> astra::actors_agi; astra_asio -> astra::asio
  if(t STREQUAL "astra_service_api")
    set(export_name service)
  else()
    string(REGEX REPLACE "^astra_" "" export_name ${t})
  endif()
  set_target_properties(${t} PROPERTIES EXPORT_NAME ${export_name})
  # Components add their include directories as plain ${PROJECT_SOURCE_DIR} / build paths;
  # an exported target must not carry those: wrap them in $<BUILD_INTERFACE:...> and point the
  # installed targets at P/include/astra ("actors/...", "generated/ari/...") and P/include
  # (<astra/service.hpp>).
  get_target_property(dirs ${t} INTERFACE_INCLUDE_DIRECTORIES)
  if(dirs)
    set(wrapped "")
    foreach(d IN LISTS dirs)
      if(NOT d MATCHES "^\\$<" AND IS_ABSOLUTE "${d}")
        set(d "$<BUILD_INTERFACE:${d}>")
      endif()
      list(APPEND wrapped "${d}")
    endforeach()
    list(APPEND wrapped "$<INSTALL_INTERFACE:${ASTRA_INSTALL_INCLUDEDIR}>"
                        "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
    set_target_properties(${t} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${wrapped}")
  endif()
endforeach()
# The public header is C++20 (coroutines): consumers compile with at least that.
target_compile_features(astra_service_api PUBLIC cxx_std_20)

install(TARGETS ${ASTRA_EXPORTED_TARGETS}
  EXPORT astraTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
foreach(program astra astra-sim)
  if(TARGET ${program})
    install(TARGETS ${program} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()

# Headers keep their repository-relative layout under P/include/astra; the executables'
# private directories (main, cli, sim) are left out.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/protocols ${PROJECT_SOURCE_DIR}/actors ${PROJECT_SOURCE_DIR}/service
  DESTINATION ${ASTRA_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.hpp"
  REGEX "/service/(main|cli|sim)$" EXCLUDE
  REGEX "/service/api/include$" EXCLUDE)
install(FILES ${PROJECT_SOURCE_DIR}/service/api/include/astra/service.hpp
  DESTINATION ${ASTRA_INSTALL_INCLUDEDIR})
# Generated at build time (ARI models/operations, AGI command catalog), included as "generated/...".
install(DIRECTORY ${ASTRA_GENERATED_DIR}/
  DESTINATION ${ASTRA_INSTALL_INCLUDEDIR}/generated
  FILES_MATCHING PATTERN "*.hpp"
  PATTERN "sim" EXCLUDE)

install(EXPORT astraTargets NAMESPACE astra:: DESTINATION ${ASTRA_INSTALL_CMAKEDIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/astraConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/astraConfig.cmake
  INSTALL_DESTINATION ${ASTRA_INSTALL_CMAKEDIR})
# 0.x: a minor version may break the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cmake/astraConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/cmake/astraConfig.cmake
  ${PROJECT_BINARY_DIR}/cmake/astraConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/AstraFindCAF.cmake
  DESTINATION ${ASTRA_INSTALL_CMAKEDIR})
