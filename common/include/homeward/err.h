/* Homeward: one error-code space for every module.
 *
 * 0 is success, every failure is negative (libuv's convention). Environment
 * errors reuse -errno values; protocol and data errors sit at -1000 and below.
 * Foreign codes (SQLite, libuv, libsodium, libcbor) are converted at the one
 * wrapper file that calls the library. */
#ifndef HOMEWARD_ERR_H
#define HOMEWARD_ERR_H

#include <errno.h>

#if defined(__GNUC__) || defined(__clang__)
#define HW_NODISCARD __attribute__((warn_unused_result))
#define HW_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define HW_NODISCARD
#define HW_PRINTF(f, a)
#endif

#define HW_EXPORT __attribute__((visibility("default")))

typedef enum hw_err {
  HW_OK = 0,
  HW_ENOMEM = -ENOMEM,    /* out of memory; nothing was changed */
  HW_EIO = -EIO,          /* disk or socket failure */
  HW_EAGAIN = -EAGAIN,    /* need more input; not a failure */
  HW_EINVAL = -EINVAL,    /* the caller passed a bad argument */
  HW_ENOENT = -ENOENT,    /* no such record, file or setting */
  HW_ENOSPC = -ENOSPC,    /* disk full */
  HW_EROFS = -EROFS,      /* read-only file system (or a file opened read-only) */
  HW_EEXIST = -EEXIST,    /* already exists */
  HW_EPERM = -EPERM,      /* not allowed for this caller */
  HW_EPROTO = -1000,      /* malformed bytes from a peer or file */
  HW_ELIMIT = -1001,      /* well-formed but over a named limit */
  HW_EAUTH = -1002,       /* MAC, signature, key or token rejected */
  HW_ECORRUPT = -1003,    /* local data failed validation */
  HW_EDIVERGE = -1004,    /* two states of one record contradict each other */
  HW_EDOTREUSE = -1005,   /* a write would reuse a dot already seen */
  HW_EPASSPHRASE = -1006, /* wrong passphrase */
  HW_ETAMPER = -1007,     /* encrypted data was altered or damaged */
  HW_EKEYFILE = -1008,    /* key envelope damaged or of another store */
  HW_EVALIDATE = -1009,   /* a form value broke its schema */
  HW_EVERSION = -1010,    /* unsupported format or protocol version */
  HW_EREFUSED = -1011,    /* the peer refused the request */
  HW_EREVOKED = -1012,    /* device revoked */
  HW_ECLOSED = -1013,     /* connection or object already closed */
  HW_EBUSY = -1014,       /* resource busy or locked */
  HW_EINTERNAL = -1015,   /* a bug: an invariant of our own code failed */
} hw_err;

/* "HW_EPROTO" for HW_EPROTO; "HW_E?" for unknown codes. Never NULL; static. */
HW_EXPORT const char *hw_errname(int err);

/* A short human message ("malformed data from peer"). Never NULL; static. */
HW_EXPORT const char *hw_strerror(int err);

#endif
