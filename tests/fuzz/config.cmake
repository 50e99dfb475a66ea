# libFuzzer targets for the config reader (core/crl_expand.c,
# core/crl_config.c), included by tests/fuzz/CMakeLists.txt.
#   fuzz_expand:  the magic, $(ENV), @(file) and %(placeholder) passes.
#   fuzz_cmdline: crl_config_load on a fuzzed argv (one argument per line).
# Seeds: corpus/fuzz_expand/ and corpus/fuzz_cmdline/.
corral_fuzz_target(fuzz_expand
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_expand.c
            ${CMAKE_SOURCE_DIR}/core/crl_expand.c
    OPTIONS -max_len=1024)

corral_fuzz_target(fuzz_cmdline
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_cmdline.c
            ${CMAKE_SOURCE_DIR}/core/crl_log.c
            ${CMAKE_SOURCE_DIR}/core/crl_option.c
            ${CMAKE_SOURCE_DIR}/core/crl_uwsgi_names.c
            ${CMAKE_SOURCE_DIR}/core/crl_config.c
            ${CMAKE_SOURCE_DIR}/core/crl_expand.c
            ${CMAKE_SOURCE_DIR}/core/crl_plugin.c
    LIBS ${CMAKE_DL_LIBS}
    OPTIONS -max_len=512 -timeout=10)

foreach(t fuzz_expand fuzz_cmdline)
    target_include_directories(${t} PRIVATE ${CMAKE_SOURCE_DIR} ${CMAKE_SOURCE_DIR}/core)
    target_compile_definitions(${t} PRIVATE CRL_VERSION="${PROJECT_VERSION}")
endforeach()
