// SPDX-License-Identifier: GPL-2.0
/*
 * Linked into the lab's static test_zswap (kernel-lab/selftests/run). In the guest the
 * test's stdout is a file, so stdio buffers it fully; the test forks for every case
 * (cg_run), and each child that returns through exit() flushes its copy of the parent's
 * unflushed buffer, printing earlier TAP lines again (seen with the 6.12 test, whose
 * kselftest.h does not flush). An unbuffered stdout gives each line once, in order. It
 * changes no test logic.
 */
#include <stdio.h>

__attribute__((constructor)) static void lab_unbuffered_stdout(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
}
