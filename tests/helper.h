/*
 * helper.h - what the Criterion tests share: a temporary directory of their
 * own per test, files written into it, and the real servers some tests use.
 */
#ifndef DKIMROT_TEST_HELPER_H
#define DKIMROT_TEST_HELPER_H

#include <stddef.h>
#include <sys/types.h>

/* A fresh directory under $TMPDIR (or /tmp) for one test; removed by
 * test_tmpdir_remove() unless DKIMROT_KEEP_TMP is set. */
char *test_tmpdir_make(const char *tag);
void test_tmpdir_remove(char *dir);

/* Write `content` to dir/name with `mode`; returns the malloc'd path. */
char *test_write_file(const char *dir, const char *name, const char *content, mode_t mode);

/* Run a shell command, return its exit status (-1 when it did not run). */
int test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The project's top directory (where the Makefile is), for scripts. */
const char *test_top_dir(void);

#endif
