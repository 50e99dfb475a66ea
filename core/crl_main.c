/*
 * corral: a uWSGI-compatible application container.
 *
 * main() registers the core option tables, reads the configuration (which
 * loads the plugins it needs), and hands over to the master. Only main and
 * the master decide to exit.
 */
#include <stdlib.h>
#include <unistd.h>

#include <corral/result.h>

#include "crl_config.h"
#include "crl_master.h"
#include "crl_socket.h"
#include "crl_worker.h"

extern char **environ;

int main(int argc, char **argv)
{
    crl_config_action_t action = CRL_CONFIG_RUN;

    if (crl_socket_options_register() != CRL_OK || crl_master_options_register() != CRL_OK ||
        crl_worker_options_register() != CRL_OK)
        return 1;
    if (crl_config_load(argc, argv, environ, &action) != CRL_OK)
        return 1;
    if (action == CRL_CONFIG_EXIT)
        return 0;
    return crl_master_run();
}
