# libFuzzer targets for the config loaders (plugins/ini, plugins/yaml),
# included by tests/fuzz/CMakeLists.txt. Each target compiles the loader
# source itself, with the core's logging, and links the parser library.
# Seeds: corpus/fuzz_ini/ and corpus/fuzz_yaml/; dictionaries fuzz_ini.dict
# and fuzz_yaml.dict. Inputs up to 8 KiB so lines longer than inih's
# 200-byte buffer and libyaml's 1024-byte simple keys are reached.
pkg_check_modules(INIH REQUIRED IMPORTED_TARGET inih)
pkg_check_modules(YAML REQUIRED IMPORTED_TARGET yaml-0.1)

corral_fuzz_target(fuzz_ini
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_ini.c
            ${CMAKE_SOURCE_DIR}/plugins/ini/crl_ini.c
            ${CMAKE_SOURCE_DIR}/core/crl_log.c
    LIBS PkgConfig::INIH
    OPTIONS -max_len=8192)

corral_fuzz_target(fuzz_yaml
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_yaml.c
            ${CMAKE_SOURCE_DIR}/plugins/yaml/crl_yaml.c
            ${CMAKE_SOURCE_DIR}/core/crl_log.c
    LIBS PkgConfig::YAML
    OPTIONS -max_len=8192)

