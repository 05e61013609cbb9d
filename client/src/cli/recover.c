/* `homeward recover KEYFILE`: the organisation's office opens a device store
 * whose worker forgot the passphrase, with the recovery secret key
 * `homeward-server init` wrote once (base64, one line, mode 0600), and sets a
 * new passphrase. Nothing is re-encrypted: the store's data key, sealed to the
 * recovery public key when the store was made, is wrapped anew. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli-int.h"
#include "homeward/crypto.h"
#include "homeward/mem.h"
#include "homeward/store.h"

#define KEY_TEXT_MAX 128

/* Read the recovery secret key; false (said on stderr) when the file is
 * missing, open to others, or not a key. */
static bool read_key(const char *path, uint8_t sk[static HW_BOX_SECRET_BYTES])
{
  char text[KEY_TEXT_MAX + 1];
  struct stat sb;
  ssize_t n;
  size_t len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  bool ok = false;

  if (fd < 0) {
    fprintf(stderr, "homeward: cannot open the recovery key %s: %s\n", path, strerror(errno));
    return false;
  }
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    fprintf(stderr, "homeward: %s is not a recovery key file\n", path);
  } else if (sb.st_mode & 077) {
    fprintf(stderr,
            "homeward: the recovery key %s may be read by others (mode %03o): chmod 600 it, "
            "and keep it offline\n",
            path, (unsigned)(sb.st_mode & 0777));
  } else if ((n = read(fd, text, KEY_TEXT_MAX)) < 0) {
    fprintf(stderr, "homeward: cannot read the recovery key %s: %s\n", path, strerror(errno));
  } else {
    size_t got = (size_t)n;
    while (got && (text[got - 1] == '\n' || text[got - 1] == '\r'))
      got--;
    ok = got < KEY_TEXT_MAX && hw_base64_decode(sk, HW_BOX_SECRET_BYTES, &len, text, got) == 0 &&
         len == HW_BOX_SECRET_BYTES;
    if (!ok)
      fprintf(stderr,
              "homeward: %s is not a recovery key (the file homeward-server init wrote with "
              "--recovery-key-out)\n",
              path);
  }
  hw_memzero(text, sizeof text);
  close(fd);
  return ok;
}

int hw_cli_recover(const hw_cli_opts *o, const char *key_file)
{
  uint8_t *sk = hw_secure_alloc(HW_BOX_SECRET_BYTES), pk[HW_BOX_PUBLIC_BYTES];
  hw_store_opts so = {.path = o->store, .test_flags = o->test_flags};
  char *pass = NULL;
  int rc = HW_CLI_FAIL;

  if (!sk)
    return hw_cli_fail("out of memory");
  if (access(o->store, F_OK) != 0) {
    fprintf(stderr, "homeward: there is no store at %s (give --store PATH)\n", o->store);
    goto out;
  }
  if (!read_key(key_file, sk) || hw_box_public(pk, sk) != 0 || !(pass = hw_cli_new_passphrase(o)))
    goto out;
  so.passphrase = (const uint8_t *)pass;
  so.passphrase_len = strlen(pass);
  switch (hw_store_recover(&so, pk, sk)) {
  case HW_OK:
    printf("store recovered: it opens with the new passphrase now\n");
    rc = HW_CLI_OK;
    break;
  case HW_EKEYFILE:
    fprintf(stderr, "homeward: this store is not sealed to that recovery key (another "
                    "organisation's key, or a store made without one): nothing changed\n");
    break;
  case HW_EAUTH:
    fprintf(stderr, "homeward: that recovery key does not open this store: nothing changed\n");
    break;
  case HW_ENOENT:
    fprintf(stderr, "homeward: %s has no key envelope (%s.hwkey): nothing changed\n", o->store,
            o->store);
    break;
  default:
    fprintf(stderr, "homeward: store not recovered: nothing changed\n");
    break;
  }
out:
  hw_secure_free(pass);
  hw_secure_free(sk);
  return rc;
}
