# Installation: the public headers, libsockeye.a (and libsockeye.so), a CMake package
# (find_package(sockeye) -> sockeye::sockeye) and a pkg-config file (sockeye.pc).
# Included from the top-level CMakeLists.txt after src/ defined the library targets.
include(CMakePackageConfigHelpers)

set(SOCKEYE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/sockeye)

# Only the public headers: they include nothing from src/ (the package test compiles each
# one alone against the installed include directory).
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/sockeye
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.hpp")

install(TARGETS ${SOCKEYE_LIBRARY_TARGETS} EXPORT sockeyeTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT sockeyeTargets NAMESPACE sockeye:: DESTINATION ${SOCKEYE_CMAKE_DIR})

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/sockeyeConfig.cmake.in
  ${PROJECT_BINARY_DIR}/sockeyeConfig.cmake
  INSTALL_DESTINATION ${SOCKEYE_CMAKE_DIR})
# 0.x: a new minor version may change the API, so only the same minor version matches.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/sockeyeConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/sockeyeConfig.cmake
  ${PROJECT_BINARY_DIR}/sockeyeConfigVersion.cmake
  DESTINATION ${SOCKEYE_CMAKE_DIR})

# The .pc file finds the prefix from its own location (pkg-config's ${pcfiledir}): the
# prefix given to `cmake --install --prefix` is not known when this file is generated.
file(RELATIVE_PATH SOCKEYE_PC_PREFIX_FROM_PCFILEDIR
  /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
configure_file(${CMAKE_CURRENT_LIST_DIR}/sockeye.pc.in ${PROJECT_BINARY_DIR}/sockeye.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/sockeye.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
