/* The file mirror: atomic replacement, failures leave the old file and no temporary. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mirror_file.h"
#include "testutil.h"

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/mxe-test-file-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "chmod -R u+w %s; rm -rf %s", dir, dir);
    ck_assert_int_eq(system(cmd), 0);
}

static size_t count_entries(const char *d)
{
    DIR *dp = opendir(d);
    ck_assert_ptr_nonnull(dp);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(dp)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(dp);
    return n;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static char buf[256];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

START_TEST(test_write_and_replace)
{
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/streams.json", dir);
    ck_assert_int_eq(mxe_mirror_file_write(path, "[1]", 3, err, sizeof err), 0);
    ck_assert_str_eq(slurp(path), "[1]");
    ck_assert_int_eq(mxe_mirror_file_write(path, "[1,2]", 5, err, sizeof err), 0);
    ck_assert_str_eq(slurp(path), "[1,2]");
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);
    ck_assert_uint_eq(count_entries(dir), 1); /* no temporary file left behind */
}
END_TEST

START_TEST(test_unwritable_directory_keeps_old_file)
{
    if (geteuid() == 0) {
        /* root ignores directory permissions: use a path whose directory is a file. */
        char path[256], err[512];
        snprintf(path, sizeof path, "%s/file", dir);
        ck_assert_int_eq(mxe_mirror_file_write(path, "x", 1, err, sizeof err), 0);
        snprintf(path, sizeof path, "%s/file/streams.json", dir);
        ck_assert_int_eq(mxe_mirror_file_write(path, "[1]", 3, err, sizeof err), -1);
        ck_assert_ptr_nonnull(strstr(err, "Not a directory"));
        return;
    }
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/streams.json", dir);
    ck_assert_int_eq(mxe_mirror_file_write(path, "[1]", 3, err, sizeof err), 0);
    ck_assert_int_eq(chmod(dir, 0555), 0);
    ck_assert_int_eq(mxe_mirror_file_write(path, "[2]", 3, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "Permission denied"));
    ck_assert_str_eq(slurp(path), "[1]");
    ck_assert_uint_eq(count_entries(dir), 1);
}
END_TEST

START_TEST(test_missing_directory)
{
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/nope/streams.json", dir);
    ck_assert_int_eq(mxe_mirror_file_write(path, "[]", 2, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "No such file or directory"));
    ck_assert_ptr_nonnull(strstr(err, path)); /* the message names the path */
}
END_TEST

START_TEST(test_disk_full_leaves_no_temp)
{
    /* /dev/full accepts nothing; its directory cannot hold our temporary file either, so
     * emulate ENOSPC with a tiny tmpfs only when we may mount; otherwise use RLIMIT_FSIZE. */
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/streams.json", dir);
    ck_assert_int_eq(mxe_mirror_file_write(path, "[1]", 3, err, sizeof err), 0);
    size_t big = 4 << 20;
    char *data = malloc(big);
    memset(data, ' ', big);
    pid_t pid = fork();
    if (pid == 0) { /* a child with a 1 MiB file size limit: write fails with EFBIG */
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {1 << 20, 1 << 20};
        setrlimit(RLIMIT_FSIZE, &rl);
        _exit(mxe_mirror_file_write(path, data, big, err, sizeof err) == -1 ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    free(data);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_str_eq(slurp(path), "[1]");
    ck_assert_uint_eq(count_entries(dir), 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mirror_file");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_write_and_replace);
    tcase_add_test(tc, test_unwritable_directory_keeps_old_file);
    tcase_add_test(tc, test_missing_directory);
    tcase_add_test(tc, test_disk_full_leaves_no_temp);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
