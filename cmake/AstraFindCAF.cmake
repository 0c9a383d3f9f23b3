# libcaf-dev 0.17.6 (Debian bookworm) ships no CMake config: wrap its core library in the
# imported target CAF::core. Used by the build (cmake/AstraDeps.cmake) and installed with the
# astra CMake package (astraConfig.cmake), so both define the target the same way.
# Sets ASTRA_CAF_FOUND; the caller decides whether a missing CAF is fatal. Needs Threads.
find_path(CAF_INCLUDE_DIR caf/all.hpp)
find_library(CAF_CORE_LIBRARY NAMES caf_core)
if(CAF_INCLUDE_DIR AND CAF_CORE_LIBRARY)
  set(ASTRA_CAF_FOUND TRUE)
  if(NOT TARGET CAF::core)
    add_library(CAF::core SHARED IMPORTED GLOBAL)
    set_target_properties(CAF::core PROPERTIES
      IMPORTED_LOCATION "${CAF_CORE_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES Threads::Threads)
  endif()
else()
  set(ASTRA_CAF_FOUND FALSE)
endif()
