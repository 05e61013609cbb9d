/* The power-cut test VFS and its file layer (store-testvfs.h). Test
 * infrastructure: its bookkeeping uses plain malloc so allocation fault
 * injection through hw_malloc never lands in the model itself. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "homeward/store-testvfs.h"
#include "store-int.h"

typedef struct node {
  uint8_t *dur; /* content as of the last fsync */
  size_t dur_len;
  bool dirty;     /* written since */
  int64_t lw_off; /* last write since the last fsync */
  uint8_t *lw;
  size_t lw_len;
  struct node *next;
} node;

typedef struct entry {
  char *path;
  node *cur; /* what the name points to now (NULL: absent) */
  node *dur; /* what it points to after a power cut */
  struct entry *next;
} entry;

static struct {
  entry *entries;
  node *nodes;
  long ops;
  long die_after;
  bool dead;
  long fail_after;
  int fail_err;
  int open_files;
  sqlite3_vfs vfs;
  sqlite3_vfs *base;
  bool registered;
  struct {
    int fd;
    node *n;
    int64_t pos;
  } h[8];
} T = {.die_after = -1, .fail_after = -1};

typedef struct tfile {
  sqlite3_file base;
  node *n;
  entry *e;
  bool dirsync_on_sync; /* unix VFS syncs the directory of a new journal/WAL */
  sqlite3_file *real;
} tfile;

/* One mutating operation: 0 to go ahead, else the error to report. */
static int tick(void)
{
  T.ops++;
  if (T.dead)
    return HW_EIO;
  if (T.die_after == 0) {
    T.dead = true;
    T.die_after = -1;
    return HW_EIO;
  }
  if (T.die_after > 0)
    T.die_after--;
  if (T.fail_after == 0) {
    T.fail_after = -1;
    return T.fail_err;
  }
  if (T.fail_after > 0)
    T.fail_after--;
  return 0;
}

/* As SQLite's own VFS reports them: a full disk, a read-only file system
 * (the file opened read-only), any other failure. */
static int to_sqlite(int err, int ioerr)
{
  return err == HW_ENOSPC ? SQLITE_FULL : err == HW_EROFS ? SQLITE_READONLY : ioerr;
}

static node *node_new(void)
{
  node *n = calloc(1, sizeof *n);
  if (!n)
    abort(); /* test infrastructure */
  n->next = T.nodes;
  T.nodes = n;
  return n;
}

static void set_dur(node *n, const uint8_t *p, size_t len)
{
  free(n->dur);
  n->dur = malloc(len ? len : 1);
  if (!n->dur)
    abort();
  if (len)
    memcpy(n->dur, p, len);
  n->dur_len = len;
  n->dirty = false;
  free(n->lw);
  n->lw = NULL;
  n->lw_len = 0;
}

static void note_write(node *n, int64_t off, const void *p, size_t len)
{
  free(n->lw);
  n->lw = malloc(len ? len : 1);
  if (!n->lw)
    abort();
  memcpy(n->lw, p, len);
  n->lw_len = len;
  n->lw_off = off;
  n->dirty = true;
}

static bool read_path(const char *path, uint8_t **out, size_t *len)
{
  struct stat st;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  uint8_t *b;

  if (fd < 0)
    return false;
  if (fstat(fd, &st) != 0)
    abort();
  b = malloc((size_t)st.st_size + 1);
  if (!b || pread(fd, b, (size_t)st.st_size, 0) != st.st_size)
    abort();
  close(fd);
  *out = b;
  *len = (size_t)st.st_size;
  return true;
}

/* The entry for `path`, tracking an existing file as durable. */
static entry *track(const char *path)
{
  entry *e;
  uint8_t *b;
  size_t len;

  for (e = T.entries; e; e = e->next)
    if (strcmp(e->path, path) == 0)
      return e;
  e = calloc(1, sizeof *e);
  if (!e || !(e->path = strdup(path)))
    abort();
  e->next = T.entries;
  T.entries = e;
  if (read_path(path, &b, &len)) {
    e->cur = e->dur = node_new();
    set_dur(e->cur, b, len);
    free(b);
  }
  return e;
}

static void sync_node_from_fd(node *n, int fd)
{
  struct stat st;
  uint8_t *b;

  if (fstat(fd, &st) != 0)
    abort();
  b = malloc((size_t)st.st_size + 1);
  if (!b || pread(fd, b, (size_t)st.st_size, 0) != st.st_size)
    abort();
  set_dur(n, b, (size_t)st.st_size);
  free(b);
}

/* ---- the VFS ---- */

static int t_close(sqlite3_file *f)
{
  tfile *t = (tfile *)f;
  T.open_files--;
  return t->real->pMethods->xClose(t->real);
}

static int t_read(sqlite3_file *f, void *p, int amt, sqlite3_int64 off)
{
  tfile *t = (tfile *)f;
  return t->real->pMethods->xRead(t->real, p, amt, off);
}

static int t_write(sqlite3_file *f, const void *p, int amt, sqlite3_int64 off)
{
  tfile *t = (tfile *)f;
  int err = tick(), rc;

  if (err)
    return to_sqlite(err, SQLITE_IOERR_WRITE);
  rc = t->real->pMethods->xWrite(t->real, p, amt, off);
  if (rc == SQLITE_OK && t->n)
    note_write(t->n, off, p, (size_t)amt);
  return rc;
}

static int t_truncate(sqlite3_file *f, sqlite3_int64 size)
{
  tfile *t = (tfile *)f;
  int err = tick(), rc;

  if (err)
    return to_sqlite(err, SQLITE_IOERR_TRUNCATE);
  rc = t->real->pMethods->xTruncate(t->real, size);
  if (rc == SQLITE_OK && t->n) {
    t->n->dirty = true;
    free(t->n->lw);
    t->n->lw = NULL;
    t->n->lw_len = 0;
  }
  return rc;
}

static int t_sync(sqlite3_file *f, int flags)
{
  tfile *t = (tfile *)f;
  sqlite3_int64 size;
  uint8_t *b;
  int err = tick(), rc;

  if (err)
    return to_sqlite(err, SQLITE_IOERR_FSYNC);
  /* The model decides what survives a cut, so the real fsync is skipped:
   * it would only make the tests slow. */
  (void)flags;
  rc = SQLITE_OK;
  if (!t->n)
    return rc;
  if (t->real->pMethods->xFileSize(t->real, &size) != SQLITE_OK)
    abort();
  b = malloc((size_t)size + 1);
  if (!b)
    abort();
  if (size > 0 && t->real->pMethods->xRead(t->real, b, (int)size, 0) != SQLITE_OK)
    abort();
  set_dur(t->n, b, (size_t)size);
  free(b);
  if (t->dirsync_on_sync) {
    if (t->e->cur == t->n)
      t->e->dur = t->n;
    t->dirsync_on_sync = false;
  }
  return rc;
}

static int t_size(sqlite3_file *f, sqlite3_int64 *size)
{
  tfile *t = (tfile *)f;
  return t->real->pMethods->xFileSize(t->real, size);
}

static int t_lock(sqlite3_file *f, int l)
{
  tfile *t = (tfile *)f;
  return t->real->pMethods->xLock(t->real, l);
}

static int t_unlock(sqlite3_file *f, int l)
{
  tfile *t = (tfile *)f;
  return t->real->pMethods->xUnlock(t->real, l);
}

static int t_check(sqlite3_file *f, int *out)
{
  tfile *t = (tfile *)f;
  return t->real->pMethods->xCheckReservedLock(t->real, out);
}

static int t_fcntl(sqlite3_file *f, int op, void *arg)
{
  tfile *t = (tfile *)f;
  return t->real->pMethods->xFileControl(t->real, op, arg);
}

static int t_sector(sqlite3_file *f)
{
  tfile *t = (tfile *)f;
  return t->real->pMethods->xSectorSize(t->real);
}

static int t_dc(sqlite3_file *f)
{
  tfile *t = (tfile *)f;
  return t->real->pMethods->xDeviceCharacteristics(t->real);
}

static int t_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
  tfile *t = (tfile *)f;
  return t->real->pMethods->xShmMap(t->real, pg, pgsz, extend, pp);
}

static int t_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
  tfile *t = (tfile *)f;
  return t->real->pMethods->xShmLock(t->real, off, n, flags);
}

static void t_shm_barrier(sqlite3_file *f)
{
  tfile *t = (tfile *)f;
  t->real->pMethods->xShmBarrier(t->real);
}

static int t_shm_unmap(sqlite3_file *f, int del)
{
  tfile *t = (tfile *)f;
  return t->real->pMethods->xShmUnmap(t->real, del);
}

static int t_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
  (void)f;
  (void)off;
  (void)amt;
  *pp = NULL;
  return SQLITE_OK;
}

static int t_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
  (void)f;
  (void)off;
  (void)p;
  return SQLITE_OK;
}

static const sqlite3_io_methods t_methods = {
    3,          t_close,       t_read,      t_write, t_truncate, t_sync, t_size,
    t_lock,     t_unlock,      t_check,     t_fcntl, t_sector,   t_dc,   t_shm_map,
    t_shm_lock, t_shm_barrier, t_shm_unmap, t_fetch, t_unfetch,
};

static int t_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags,
                  int *out_flags)
{
  tfile *t = (tfile *)f;
  int type = flags & 0x0FFF00;
  entry *e = NULL;
  bool existed = true;
  int rc;

  (void)vfs;
  memset(t, 0, sizeof *t);
  t->real = (sqlite3_file *)(t + 1);
  if (name) {
    e = track(name);
    existed = e->cur != NULL;
    if (!existed && (flags & SQLITE_OPEN_CREATE)) {
      int err = tick();
      if (err)
        return SQLITE_CANTOPEN;
    }
  }
  rc = T.base->xOpen(T.base, name, t->real, flags, out_flags);
  if (rc != SQLITE_OK)
    return rc;
  T.open_files++;
  t->base.pMethods = &t_methods;
  if (e) {
    if (!existed) {
      e->cur = node_new();
      set_dur(e->cur, NULL, 0);
    }
    t->e = e;
    t->n = e->cur;
    t->dirsync_on_sync = !existed && (type == SQLITE_OPEN_MAIN_JOURNAL || type == SQLITE_OPEN_WAL ||
                                      type == SQLITE_OPEN_SUPER_JOURNAL);
  }
  return SQLITE_OK;
}

static int t_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
  entry *e = track(name);
  int err = tick(), rc;

  (void)vfs;
  if (err)
    return SQLITE_IOERR_DELETE;
  rc = T.base->xDelete(T.base, name, sync_dir);
  if (rc == SQLITE_OK || rc == SQLITE_IOERR_DELETE_NOENT) {
    e->cur = NULL;
    if (sync_dir)
      e->dur = NULL;
  }
  return rc;
}

static int t_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
  (void)vfs;
  return T.base->xAccess(T.base, name, flags, out);
}

static int t_full(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
  (void)vfs;
  return T.base->xFullPathname(T.base, name, n, out);
}

static int t_random(sqlite3_vfs *vfs, int n, char *out)
{
  (void)vfs;
  return T.base->xRandomness(T.base, n, out);
}

static int t_sleep(sqlite3_vfs *vfs, int us)
{
  (void)vfs;
  return T.base->xSleep(T.base, us);
}

static int t_time(sqlite3_vfs *vfs, double *out)
{
  (void)vfs;
  return T.base->xCurrentTime(T.base, out);
}

static int t_last_error(sqlite3_vfs *vfs, int n, char *out)
{
  (void)vfs;
  return T.base->xGetLastError(T.base, n, out);
}

static int t_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
  (void)vfs;
  return T.base->xCurrentTimeInt64(T.base, out);
}

int hw_testvfs_register(void)
{
  if (T.registered)
    return HW_OK;
  if (sqlite3_initialize() != SQLITE_OK)
    return HW_ENOMEM;
  T.base = sqlite3_vfs_find(NULL);
  if (!T.base)
    return HW_EINTERNAL;
  T.vfs = (sqlite3_vfs){
      .iVersion = 2,
      .szOsFile = (int)(sizeof(tfile) + (size_t)T.base->szOsFile),
      .mxPathname = T.base->mxPathname,
      .zName = HW_TESTVFS_NAME,
      .xOpen = t_open,
      .xDelete = t_delete,
      .xAccess = t_access,
      .xFullPathname = t_full,
      .xRandomness = t_random,
      .xSleep = t_sleep,
      .xCurrentTime = t_time,
      .xGetLastError = t_last_error,
      .xCurrentTimeInt64 = t_time64,
  };
  if (sqlite3_vfs_register(&T.vfs, 0) != SQLITE_OK)
    return HW_ENOMEM;
  T.registered = true;
  for (size_t i = 0; i < sizeof T.h / sizeof T.h[0]; i++)
    T.h[i].fd = -1;
  return HW_OK;
}

long hw_testvfs_ops(void)
{
  return T.ops;
}

void hw_testvfs_die_after(long n)
{
  T.die_after = n;
}

bool hw_testvfs_dead(void)
{
  return T.dead;
}

void hw_testvfs_fail_after(long n, int err)
{
  T.fail_after = n;
  T.fail_err = err;
}

static void clear_all(void)
{
  while (T.entries) {
    entry *e = T.entries;
    T.entries = e->next;
    free(e->path);
    free(e);
  }
  while (T.nodes) {
    node *n = T.nodes;
    T.nodes = n->next;
    free(n->dur);
    free(n->lw);
    free(n);
  }
  T.ops = 0;
  T.dead = false;
  T.die_after = -1;
  T.fail_after = -1;
}

int hw_testvfs_forget(void)
{
  if (T.open_files > 0)
    return HW_EBUSY;
  clear_all();
  return HW_OK;
}

static uint64_t mix(uint64_t *s)
{
  uint64_t z = (*s += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

int hw_testvfs_powercut(uint64_t seed)
{
  int rc = HW_OK;

  if (T.open_files > 0)
    return HW_EBUSY;
  for (entry *e = T.entries; e; e = e->next) {
    node *n = e->dur;
    uint8_t *img;
    size_t len;
    int fd;

    if (!n) {
      if (unlink(e->path) != 0 && errno != ENOENT)
        rc = HW_EIO;
      continue;
    }
    len = n->dur_len;
    if (n->dirty && n->lw_len > 0) {
      /* Tear the last write: only a prefix of it reached the platter. */
      size_t keep = n->lw_len > 1 ? 1 + (size_t)(mix(&seed) % (n->lw_len - 1)) : 0;
      size_t end = (size_t)n->lw_off + keep;
      if (keep > 0 && end > len)
        len = end;
      img = calloc(1, len + 1);
      if (!img)
        abort();
      memcpy(img, n->dur, n->dur_len);
      memcpy(img + n->lw_off, n->lw, keep);
    } else {
      img = malloc(len + 1);
      if (!img)
        abort();
      memcpy(img, n->dur, len);
    }
    fd = open(e->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (len > 0 && write(fd, img, len) != (ssize_t)len))
      rc = HW_EIO;
    if (fd >= 0)
      close(fd);
    free(img);
  }
  clear_all();
  return rc;
}

/* ---- the same model for the envelope writer ---- */

static int tf_create(const char *path)
{
  entry *e = track(path);
  int err = tick(), fd;

  if (err)
    return err;
  if (e->cur)
    return HW_EEXIST;
  fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return HW_EIO;
  for (int i = 0; i < (int)(sizeof T.h / sizeof T.h[0]); i++) {
    if (T.h[i].fd < 0) {
      T.h[i].fd = fd;
      T.h[i].n = e->cur = node_new();
      T.h[i].pos = 0;
      set_dur(e->cur, NULL, 0);
      T.open_files++;
      return i;
    }
  }
  abort();
}

static int tf_write(int h, const void *p, size_t n)
{
  int err = tick();

  if (err)
    return err;
  if (pwrite(T.h[h].fd, p, n, T.h[h].pos) != (ssize_t)n)
    return HW_EIO;
  note_write(T.h[h].n, T.h[h].pos, p, n);
  T.h[h].pos += (int64_t)n;
  return HW_OK;
}

static int tf_sync(int h)
{
  int err = tick();

  if (err)
    return err;
  sync_node_from_fd(T.h[h].n, T.h[h].fd);
  return HW_OK;
}

static int tf_close(int h)
{
  close(T.h[h].fd);
  T.h[h].fd = -1;
  T.open_files--;
  return HW_OK;
}

static int tf_rename(const char *from, const char *to)
{
  entry *ef = track(from), *et = track(to);
  int err = tick();

  if (err)
    return err;
  if (rename(from, to) != 0)
    return HW_EIO;
  et->cur = ef->cur;
  ef->cur = NULL;
  return HW_OK;
}

static int tf_sync_dir(const char *dir)
{
  int err = tick();
  char d[4096];

  if (err)
    return err;
  for (entry *e = T.entries; e; e = e->next) {
    hw__fs_dirname(e->path, d, sizeof d);
    if (strcmp(d, dir) == 0)
      e->dur = e->cur;
  }
  return HW_OK;
}

static int tf_unlink(const char *path)
{
  entry *e = track(path);
  int err;

  if (!e->cur)
    return HW_OK;
  err = tick();
  if (err)
    return err;
  if (unlink(path) != 0)
    return HW_EIO;
  e->cur = NULL;
  return HW_OK;
}

static const hw__fs test_fs = {tf_create, tf_write,    tf_sync,  tf_close,
                               tf_rename, tf_sync_dir, tf_unlink};

const hw__fs *hw__fs_test(void)
{
  return &test_fs;
}
