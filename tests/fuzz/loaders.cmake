# libFuzzer targets for the config loaders (plugins/ini, plugins/yaml),
# included by tests/fuzz/CMakeLists.txt. Each target compiles the loader
# source itself, with the core's logging, and links the parser library.
# Seeds: corpus/fuzz_ini/ and corpus/fuzz_yaml/.
pkg_check_modules(INIH REQUIRED IMPORTED_TARGET inih)
pkg_check_modules(YAML REQUIRED IMPORTED_TARGET yaml-0.1)

corral_fuzz_target(fuzz_ini
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_ini.c
            ${CMAKE_SOURCE_DIR}/plugins/ini/crl_ini.c
            ${CMAKE_SOURCE_DIR}/core/crl_log.c
    LIBS PkgConfig::INIH)

corral_fuzz_target(fuzz_yaml
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_yaml.c
            ${CMAKE_SOURCE_DIR}/plugins/yaml/crl_yaml.c
            ${CMAKE_SOURCE_DIR}/core/crl_log.c
    LIBS PkgConfig::YAML)

# The targets send the log to /dev/null through core/crl_log.h.
target_include_directories(fuzz_ini PRIVATE ${CMAKE_SOURCE_DIR})
target_include_directories(fuzz_yaml PRIVATE ${CMAKE_SOURCE_DIR})
