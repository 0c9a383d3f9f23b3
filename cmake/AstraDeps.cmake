# Third-party dependencies, all from Debian bookworm packages (scripts/install-deps).
find_package(Threads REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS system)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(Catch2 2.13 REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(CLI11 REQUIRED)
find_package(fmt REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(Python3 REQUIRED COMPONENTS Interpreter)

# libcaf-dev 0.17.6 ships no CMake config: wrap the library in an imported target (CAF::core).
include(${CMAKE_CURRENT_LIST_DIR}/AstraFindCAF.cmake)
if(NOT ASTRA_CAF_FOUND)
  message(FATAL_ERROR "CAF 0.17 not found (caf/all.hpp: ${CAF_INCLUDE_DIR}, libcaf_core: "
                      "${CAF_CORE_LIBRARY}); install libcaf-dev (scripts/install-deps)")
endif()

# Boost.Asio / Beast as header-only users, with the definitions every TU must agree on.
if(NOT TARGET astra::asio)
  add_library(astra_asio INTERFACE)
  add_library(astra::asio ALIAS astra_asio)
  target_link_libraries(astra_asio INTERFACE Boost::headers Boost::system Threads::Threads)
  target_compile_definitions(astra_asio INTERFACE
    BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW BOOST_ASIO_DISABLE_CONCEPTS)
endif()
