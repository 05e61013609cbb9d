#include "homeward/err.h"

#include <stddef.h>

static const struct {
  int code;
  const char *name;
  const char *msg;
} errs[] = {
    {HW_OK, "HW_OK", "success"},
    {HW_ENOMEM, "HW_ENOMEM", "out of memory"},
    {HW_EIO, "HW_EIO", "input/output error"},
    {HW_EAGAIN, "HW_EAGAIN", "more input needed"},
    {HW_EINVAL, "HW_EINVAL", "invalid argument"},
    {HW_ENOENT, "HW_ENOENT", "not found"},
    {HW_ENOSPC, "HW_ENOSPC", "no space left on device"},
    {HW_EROFS, "HW_EROFS", "read-only file system"},
    {HW_EEXIST, "HW_EEXIST", "already exists"},
    {HW_EPERM, "HW_EPERM", "not permitted"},
    {HW_EPROTO, "HW_EPROTO", "malformed data"},
    {HW_ELIMIT, "HW_ELIMIT", "over a size or count limit"},
    {HW_EAUTH, "HW_EAUTH", "authentication failed"},
    {HW_ECORRUPT, "HW_ECORRUPT", "stored data failed validation"},
    {HW_EDIVERGE, "HW_EDIVERGE", "two states of one record contradict each other"},
    {HW_EDOTREUSE, "HW_EDOTREUSE", "write would reuse a version already used"},
    {HW_EPASSPHRASE, "HW_EPASSPHRASE", "wrong passphrase"},
    {HW_ETAMPER, "HW_ETAMPER", "encrypted data was altered or damaged"},
    {HW_EKEYFILE, "HW_EKEYFILE", "key envelope is damaged or belongs to another store"},
    {HW_EVALIDATE, "HW_EVALIDATE", "value does not satisfy the form"},
    {HW_EVERSION, "HW_EVERSION", "unsupported version"},
    {HW_EREFUSED, "HW_EREFUSED", "refused by peer"},
    {HW_EREVOKED, "HW_EREVOKED", "device revoked"},
    {HW_ECLOSED, "HW_ECLOSED", "already closed"},
    {HW_EBUSY, "HW_EBUSY", "busy"},
    {HW_EINTERNAL, "HW_EINTERNAL", "internal error"},
};

static size_t find(int err)
{
  for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
    if (errs[i].code == err)
      return i;
  return (size_t)-1;
}

const char *hw_errname(int err)
{
  size_t i = find(err);
  return i == (size_t)-1 ? "HW_E?" : errs[i].name;
}

const char *hw_strerror(int err)
{
  size_t i = find(err);
  return i == (size_t)-1 ? "unknown error" : errs[i].msg;
}
