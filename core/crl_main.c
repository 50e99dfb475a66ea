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
#include "crl_daemon.h"
#include "crl_fifo.h"
#include "crl_master.h"
#include "crl_procname.h"
#include "crl_socket.h"
#include "crl_static.h"
#include "crl_worker.h"

extern char **environ;

int main(int argc, char **argv)
{
    crl_config_action_t action = CRL_CONFIG_RUN;

    crl_procname_init(argc, argv);
    crl_master_set_argv(argc, argv);
    if (crl_socket_options_register() != CRL_OK || crl_master_options_register() != CRL_OK ||
        crl_worker_options_register() != CRL_OK || crl_static_options_register() != CRL_OK ||
        crl_daemon_options_register() != CRL_OK || crl_fifo_options_register() != CRL_OK ||
        crl_procname_options_register() != CRL_OK)
        return 1;
    if (crl_config_load(argc, argv, environ, &action) != CRL_OK)
        return 1;
    if (action == CRL_CONFIG_EXIT)
        return 0;
    return crl_master_run();
}
