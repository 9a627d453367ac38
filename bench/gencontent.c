/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Writes SIZE bytes of the generated device state (tests/double/content.h) to
 * stdout: the very bytes the test double serves with content=generated.
 * Build: cc -O2 -Itests/double -o bench/gencontent bench/gencontent.c */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "content.h"

int main(int argc, char **argv)
{
	static unsigned char buf[1 << 20];
	unsigned long long size, done = 0;

	if (argc != 2 || (size = strtoull(argv[1], NULL, 0)) == 0) {
		fprintf(stderr, "usage: gencontent SIZE > FILE\n");
		return 2;
	}
	while (done < size) {
		size_t n = size - done < sizeof(buf) ? (size_t)(size - done) : sizeof(buf);

		content_fill(done, buf, n);
		if (fwrite(buf, 1, n, stdout) != n) {
			perror("gencontent: write");
			return 1;
		}
		done += n;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
