/*
 * Result codes shared by the core and every plugin.
 *
 * Functions that can fail return one of these (or, for syscall wrappers,
 * -errno; for parsers, the number of bytes consumed when positive).
 */
#ifndef CORRAL_RESULT_H
#define CORRAL_RESULT_H

#define CRL_OK 0        /* done, success */
#define CRL_ERROR (-1)  /* failed; the cause has been logged or described */
#define CRL_AGAIN (-2)  /* incomplete: call again with more input */
#define CRL_DECLINED (-3) /* not for me: let someone else handle it */
#define CRL_DONE (-4)   /* finished early, nothing more to do */

#endif
