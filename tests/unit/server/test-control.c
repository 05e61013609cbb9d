/* The control socket: an authorised peer's request reaches the handler and
 * gets its reply; a peer outside the policy (another uid, checked with
 * SO_PEERCRED before anything is read) gets nothing; an oversized or
 * truncated frame closes the connection. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "check.h"
#include "control-client-int.h"
#include "control-int.h"

static char sock_path[108];
static int handled;
static char last_user[64];

static void handler(hw_control_req *req, const hw_peer_cred *cred, const uint8_t *body, size_t len,
                    void *ud)
{
  uint8_t reply[300];
  (void)ud;
  handled++;
  snprintf(last_user, sizeof last_user, "%s", cred->user);
  CHECK(len < sizeof reply - 3);
  memcpy(reply, "ok:", 3);
  memcpy(reply + 3, body, len);
  hw_control_reply(req, reply, len + 3);
}

/* A blocking client: send one frame (declared length `declared`, `len` bytes
 * actually sent), read the reply into buf. Returns the reply length, or -1
 * when the server closed without replying. */
static long client(uint32_t declared, const char *body, size_t len, char *buf, size_t cap)
{
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  uint8_t hdr[4] = {(uint8_t)(declared >> 24), (uint8_t)(declared >> 16), (uint8_t)(declared >> 8),
                    (uint8_t)declared};
  uint8_t rh[4];
  long n;
  size_t got = 0;

  CHECK(fd >= 0);
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(fd);
    return -2;
  }
  if (send(fd, hdr, 4, MSG_NOSIGNAL) != 4 || (len && send(fd, body, len, MSG_NOSIGNAL) < 0)) {
    close(fd);
    return -1;
  }
  if (declared != len)
    shutdown(fd, SHUT_WR); /* a truncated frame */
  while (got < 4 && (n = recv(fd, rh + got, 4 - got, 0)) > 0)
    got += (size_t)n;
  if (got < 4) {
    close(fd);
    return -1;
  }
  n = (long)((uint32_t)rh[0] << 24 | (uint32_t)rh[1] << 16 | (uint32_t)rh[2] << 8 | rh[3]);
  CHECK((size_t)n <= cap);
  got = 0;
  while (got < (size_t)n) {
    long k = recv(fd, buf + got, (size_t)n - got, 0);
    CHECK(k > 0);
    got += (size_t)k;
  }
  close(fd);
  return n;
}

typedef struct plan {
  int done;
  int as_nobody; /* run the client in a child that dropped to uid 65534 */
  long results[4];
} plan;

static void client_thread(void *arg)
{
  plan *p = arg;
  char buf[400];
  static char big[HW_CONTROL_FRAME_MAX + 1];

  if (p->as_nobody) {
    pid_t pid = fork();
    int st;
    if (pid == 0) {
      const char *fields[2] = {"status", NULL};
      int ok = 1;
      if (setgid(65534) != 0 || setuid(65534) != 0)
        _exit(3);
      long r = client(5, "hello", 5, buf, sizeof buf);
      if (r != -1)
        _exit(r == -2 ? 2 : 1);
      /* The administrator's client is told it was refused, whether the
       * server closed before its request was sent (EPIPE, without dying of
       * SIGPIPE) or after. */
      _exit(hw_control_call(sock_path, fields, 2, &ok, buf, sizeof buf, 5) == HW_EREFUSED && !ok
                ? 0
                : 4);
    }
    CHECK(waitpid(pid, &st, 0) == pid);
    p->results[0] = WIFEXITED(st) ? WEXITSTATUS(st) : 99;
  } else {
    p->results[0] = client(5, "hello", 5, buf, sizeof buf);
    CHECK(p->results[0] == 8 && memcmp(buf, "ok:hello", 8) == 0);
    p->results[1] = client(HW_CONTROL_FRAME_MAX + 1, big, 0, buf, sizeof buf);
    p->results[2] = client(10, "abc", 3, buf, sizeof buf);
    p->results[3] = client(0, "", 0, buf, sizeof buf);
  }
  __atomic_store_n(&p->done, 1, __ATOMIC_SEQ_CST);
}

static void poll_done(uv_timer_t *t)
{
  plan *p = t->data;
  if (__atomic_load_n(&p->done, __ATOMIC_SEQ_CST))
    uv_stop(t->loop);
}

static void timer_closed(uv_handle_t *h)
{
  (void)h;
}

static void run(const hw_control_policy *pol, plan *p, hw_control_stats *st)
{
  uv_loop_t loop;
  uv_timer_t timer;
  uv_thread_t th;
  hw_control *c = NULL;

  CHECK_OK(uv_loop_init(&loop));
  CHECK_OK(hw_control_open(&c, &loop, sock_path, pol, handler, NULL));
  {
    struct stat sb;
    CHECK(stat(sock_path, &sb) == 0);
    CHECK_EQ(sb.st_mode & 0777, 0660); /* no access for others by default */
    if (pol->has_group && getuid() == 0)
      CHECK_EQ(sb.st_gid, pol->group); /* the admin group's members may open it */
  }
  if (p->as_nobody) {
    /* Open the file permissions wide, so only the credential check stands
     * between the other user and the server. */
    CHECK(chmod(sock_path, 0666) == 0);
  }
  CHECK_OK(uv_timer_init(&loop, &timer));
  timer.data = p;
  CHECK_OK(uv_timer_start(&timer, poll_done, 5, 5));
  CHECK_OK(uv_thread_create(&th, client_thread, p));
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_thread_join(&th);
  *st = hw_control_get_stats(c);
  hw_control_close(c);
  uv_close((uv_handle_t *)&timer, timer_closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_OK(uv_loop_close(&loop));
  CHECK(access(sock_path, F_OK) != 0); /* the socket file is removed */
}

int main(void)
{
  hw_control_policy pol = {.n_uids = 1};
  hw_control_stats st;
  plan p1 = {0}, p2 = {0};
  char tmpl[] = "/tmp/hw-control-XXXXXX";

  CHECK(mkdtemp(tmpl) != NULL);
  snprintf(sock_path, sizeof sock_path, "%s/control.sock", tmpl);

  /* 1: our own uid is allowed; bad frames close the connection. */
  pol.uids[0] = getuid();
  run(&pol, &p1, &st);
  CHECK_EQ(handled, 1);
  CHECK_EQ(p1.results[1], -1); /* over HW_CONTROL_FRAME_MAX */
  CHECK_EQ(p1.results[2], -1); /* truncated */
  CHECK_EQ(p1.results[3], -1); /* empty */
  CHECK_EQ(st.accepted, 4);
  CHECK(st.bad_frames >= 2);
  CHECK(strlen(last_user) > 0);

  /* 2: a peer with another uid is refused before anything is read. */
  if (getuid() == 0) {
    CHECK(chmod(tmpl, 0755) == 0);
    p2.as_nobody = 1;
    run(&pol, &p2, &st);
    CHECK_EQ(p2.results[0], 0); /* the child saw the connection closed unanswered */
    CHECK_EQ(st.refused, 2); /* the raw client and hw_control_call */
    CHECK_EQ(handled, 1);
    /* 3: with an admin group, the socket file is that group's. */
    {
      plan p3 = {0};
      hw_control_policy grp = pol;
      grp.has_group = 1;
      grp.group = 4242;
      run(&grp, &p3, &st);
      CHECK_EQ(st.accepted, 4);
    }
  } else {
    puts("not root: the other-uid and admin-group cases are checked through the policy only");
  }
  /* The policy itself: root is not allowed unless listed. */
  {
    hw_peer_cred root = {.uid = 0, .gid = 0}, me = {.uid = getuid(), .gid = getgid()};
    hw_control_policy only = {.uids = {12345}, .n_uids = 1};
    CHECK(!hw_control_allowed(&only, &root));
    CHECK(hw_control_allowed(&pol, &me));
    only.has_group = 1;
    only.group = 4242;
    CHECK(!hw_control_allowed(&only, &root));
    root.gid = 4242;
    CHECK(hw_control_allowed(&only, &root));
  }
  /* A server that never answers (stopped with SIGSTOP): the client gives
   * up after its timeout with HW_EBUSY, instead of waiting for ever. */
  {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const char *fields[2] = {"status", NULL};
    char buf[64];
    int fd = socket(AF_UNIX, SOCK_STREAM, 0), ok = 1;
    CHECK(fd >= 0);
    memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 4) == 0);
    CHECK_EQ(hw_control_call(sock_path, fields, 2, &ok, buf, sizeof buf, 1), HW_EBUSY);
    CHECK(!ok);
    close(fd);
    unlink(sock_path);
  }
  rmdir(tmpl);
  puts("control socket: ok");
  return 0;
}
