/* Corpus replayer: a main() for fuzz targets when libFuzzer is not used.
 * Feeds LLVMFuzzerTestOneInput every regular file under the given files or
 * directories (one level deep), so meson test replays each corpus. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  uint8_t *buf = NULL;
  long len;

  if (!f || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fprintf(stderr, "replay: cannot read %s\n", path);
    if (f)
      fclose(f);
    return -1;
  }
  buf = malloc(len ? (size_t)len : 1);
  if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
    fprintf(stderr, "replay: cannot read %s\n", path);
    free(buf);
    fclose(f);
    return -1;
  }
  fclose(f);
  LLVMFuzzerTestOneInput(buf, (size_t)len);
  free(buf);
  return 0;
}

int main(int argc, char **argv)
{
  long n = 0;

  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "replay: %s: not found\n", argv[i]);
      return 1;
    }
    if (S_ISDIR(st.st_mode)) {
      DIR *d = opendir(argv[i]);
      struct dirent *e;
      if (!d)
        return 1;
      while ((e = readdir(d))) {
        char path[4096];
        if (e->d_name[0] == '.')
          continue;
        snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
          if (run_file(path))
            return 1;
          n++;
        }
      }
      closedir(d);
    } else {
      if (run_file(argv[i]))
        return 1;
      n++;
    }
  }
  printf("replayed %ld inputs\n", n);
  /* An empty corpus means the replay tested nothing: fail loudly. */
  return n > 0 ? 0 : 1;
}
