/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Generated device state for large-state tests and benchmarks: the byte at any
 * offset is a pure function of the offset, so the double can serve gigabytes
 * without holding them, and bench/ can write the very same bytes to a file.
 * Blocks of 64 KiB cycle through zeros, random bytes and structured text, a mix
 * that compresses like real device state does (partly). */
#ifndef VFIOMIG_TEST_CONTENT_H
#define VFIOMIG_TEST_CONTENT_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define CONTENT_BLOCK 65536u

static inline uint64_t content_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* One 8-byte word of the content at offset 8 * word. */
static inline uint64_t content_word(uint64_t word)
{
	uint64_t block = word * 8 / CONTENT_BLOCK;

	switch (block % 3) {
	case 0:
		return 0;
	case 1:
		return content_mix(word);
	default: {
		/* "reg 0x0000NNNN\n" style lines: 16 bytes, two words per line */
		static const char digits[] = "0123456789abcdef";
		uint64_t line = word / 2, v = 0;
		char text[8];

		if (word % 2 == 0) {
			memcpy(text, "reg 0x00", 8);
		} else {
			for (int i = 0; i < 7; i++)
				text[i] = digits[(line >> (4 * (6 - i))) & 0xf];
			text[7] = '\n';
		}
		memcpy(&v, text, 8);
		return v;
	}
	}
}

static inline void content_fill(uint64_t offset, unsigned char *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		uint64_t pos = offset + done, w = content_word(pos / 8);
		size_t skip = pos % 8, n = 8 - skip;

		if (n > len - done)
			n = len - done;
		memcpy(buf + done, (unsigned char *)&w + skip, n);
		done += n;
	}
}

#endif
