/* fake_app.c as a plugin built into the binary (crl_builtin_plugin_app), for
 * test_embedded.c; fake_app.c itself is also built as corral_app.so. */
#define CRL_PLUGIN_EMBEDDED app
#include "fake_app.c"
