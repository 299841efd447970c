/* Replays fuzz corpora without libFuzzer: every regular file under the
 * directories (or the files) named on the command line goes once through
 * LLVMFuzzerTestOneInput. Lets CTest run the committed corpus with any
 * compiler, under ASan/UBSan in CI. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

static int replay_file(const char* path) {
  FILE* f = fopen(path, "rb");
  uint8_t* buf = NULL;
  size_t len = 0, cap = 0, n;
  if (f == NULL) {
    perror(path);
    return -1;
  }
  do {
    if (len == cap) {
      cap = cap ? 2 * cap : 65536;
      buf = realloc(buf, cap);
      if (buf == NULL) {
        fclose(f);
        return -1;
      }
    }
    n = fread(buf + len, 1, cap - len, f);
    len += n;
  } while (n > 0);
  fclose(f);
  LLVMFuzzerTestOneInput(buf, len);
  free(buf);
  return 0;
}

int main(int argc, char** argv) {
  int i, files = 0, bad = 0;
  for (i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      perror(argv[i]);
      bad++;
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      DIR* d = opendir(argv[i]);
      struct dirent* e;
      if (d == NULL) {
        perror(argv[i]);
        bad++;
        continue;
      }
      while ((e = readdir(d)) != NULL) {
        char path[4096];
        struct stat fst;
        snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
        if (stat(path, &fst) != 0 || !S_ISREG(fst.st_mode)) continue;
        if (replay_file(path) != 0) bad++;
        files++;
      }
      closedir(d);
    } else {
      if (replay_file(argv[i]) != 0) bad++;
      files++;
    }
  }
  printf("replayed %d inputs\n", files);
  return bad || files == 0 ? 1 : 0;
}
