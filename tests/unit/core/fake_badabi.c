/* A plugin built for another ABI: loading it must fail with a clear error. */
#include <corral/plugin.h>

CRL_PLUGIN_EXPORT const crl_plugin_t crl_plugin = {
    .abi = CRL_PLUGIN_ABI + 98,
    .name = "badabi",
};
