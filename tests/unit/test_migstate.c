/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The arc table and path planner against an independent model: for every flag
 * combination and every (current, target) pair, the planned path uses only arcs
 * the flags promise, is as short as a breadth-first search finds, never opens a
 * data fd midway, and is refused exactly where the uAPI refuses. */
#include <errno.h>
#include <string.h>

#include "device/migstate.h"
#include "unit.h"

/* Shortest walk in which only the last arc may open a data fd. */
static int bfs_distance(uint64_t flags, enum vmig_state from, enum vmig_state to)
{
	int dist[VMIG_NR_STATES], queue[VMIG_NR_STATES], head = 0, tail = 0;

	for (int i = 0; i < VMIG_NR_STATES; i++)
		dist[i] = -1;
	dist[from] = 0;
	queue[tail++] = from;
	while (head < tail) {
		int s = queue[head++];

		for (int n = 0; n < VMIG_NR_STATES; n++)
			if (dist[n] < 0 && vmig_arc_supported(flags, s, n) &&
			    !vmig_arc_gives_data_fd(s, n)) {
				dist[n] = dist[s] + 1;
				queue[tail++] = n;
			}
	}
	int best = dist[to];
	for (int s = 0; s < VMIG_NR_STATES; s++)
		if (dist[s] >= 0 && vmig_arc_supported(flags, s, to) &&
		    vmig_arc_gives_data_fd(s, to) && (best < 0 || dist[s] + 1 < best))
			best = dist[s] + 1;
	return best;
}

static bool uapi_refuses(uint64_t flags, enum vmig_state cur, enum vmig_state target)
{
	if (!vmig_state_supported(flags, cur) || !vmig_state_supported(flags, target))
		return true;
	if (cur == VMIG_ERROR || target == VMIG_ERROR)
		return true;
	/* Once stop-copy has begun, pre-copy cannot be re-entered; RESUMING can go anywhere. */
	return cur == VMIG_STOP_COPY && (target == VMIG_PRE_COPY || target == VMIG_PRE_COPY_P2P);
}

static void check_all_pairs(uint64_t flags)
{
	int bad_paths = 0, bad_refusals = 0, pairs = 0;

	for (int cur = 0; cur < VMIG_NR_STATES; cur++)
		for (int target = 0; target < VMIG_NR_STATES; target++) {
			struct vmig_path path;
			int ret = vmig_plan_path(flags, cur, target, &path);
			bool refused = uapi_refuses(flags, cur, target);

			pairs++;
			if (refused != (ret == -EINVAL)) {
				bad_refusals++;
				printf("# flags %llu %s -> %s: ret %d, expected %s\n",
				       (unsigned long long)flags, vmig_state_name(cur),
				       vmig_state_name(target), ret, refused ? "EINVAL" : "a path");
				continue;
			}
			if (ret < 0)
				continue;
			bool ok = (int)path.state[0] == cur && (int)path.state[path.len - 1] == target &&
				  path.len - 1 == bfs_distance(flags, cur, target);
			for (int i = 1; i < path.len; i++) {
				ok = ok && vmig_arc_supported(flags, path.state[i - 1], path.state[i]);
				if (i < path.len - 1)
					ok = ok && !vmig_arc_gives_data_fd(path.state[i - 1], path.state[i]);
			}
			if (!ok) {
				char text[200];

				vmig_path_format(&path, text, sizeof(text));
				printf("# flags %llu: bad path %s\n", (unsigned long long)flags, text);
				bad_paths++;
			}
		}
	CHECK(bad_refusals == 0, "flags 0x%llx: the planner refuses exactly what the uAPI refuses (%d pairs)",
	      (unsigned long long)flags, pairs);
	CHECK(bad_paths == 0, "flags 0x%llx: every path is a shortest walk over promised arcs with no data fd midway",
	      (unsigned long long)flags);
}

static void check_path(uint64_t flags, enum vmig_state from, enum vmig_state to,
		       const char *expected)
{
	struct vmig_path path;
	char text[200] = "";
	int ret = vmig_plan_path(flags, from, to, &path);

	if (ret == 0)
		vmig_path_format(&path, text, sizeof(text));
	else
		snprintf(text, sizeof(text), "error %d", ret);
	CHECK(strcmp(text, expected) == 0, "flags 0x%llx %s -> %s walks %s (got %s)",
	      (unsigned long long)flags, vmig_state_name(from), vmig_state_name(to), expected, text);
}

int main(void)
{
	const uint64_t all = VMIG_FLAG_STOP_COPY | VMIG_FLAG_P2P | VMIG_FLAG_PRE_COPY;

	for (uint64_t flags = 0; flags < 8; flags++)
		check_all_pairs(flags);
	check_all_pairs(all | 0x8);     /* an unknown flag does not change the walk */

	/* Paths seen on the real kernel (mtty, flags 0x7) and read from the uAPI. */
	check_path(all, VMIG_RUNNING, VMIG_STOP, "RUNNING -> RUNNING_P2P -> STOP");
	check_path(all, VMIG_RUNNING, VMIG_STOP_COPY, "RUNNING -> RUNNING_P2P -> STOP -> STOP_COPY");
	check_path(all, VMIG_RUNNING, VMIG_RESUMING, "RUNNING -> RUNNING_P2P -> STOP -> RESUMING");
	check_path(all, VMIG_PRE_COPY, VMIG_STOP_COPY, "PRE_COPY -> PRE_COPY_P2P -> STOP_COPY");
	check_path(all, VMIG_STOP_COPY, VMIG_RUNNING, "STOP_COPY -> STOP -> RUNNING_P2P -> RUNNING");
	check_path(all, VMIG_STOP, VMIG_PRE_COPY, "STOP -> RUNNING_P2P -> RUNNING -> PRE_COPY");
	check_path(VMIG_FLAG_STOP_COPY, VMIG_RUNNING, VMIG_STOP_COPY, "RUNNING -> STOP -> STOP_COPY");
	check_path(VMIG_FLAG_STOP_COPY | VMIG_FLAG_PRE_COPY, VMIG_PRE_COPY, VMIG_STOP_COPY,
		   "PRE_COPY -> STOP_COPY");
	check_path(VMIG_FLAG_STOP_COPY | VMIG_FLAG_PRE_COPY, VMIG_RUNNING, VMIG_STOP_COPY,
		   "RUNNING -> STOP -> STOP_COPY");
	check_path(all, VMIG_STOP_COPY, VMIG_PRE_COPY, "error -22");
	check_path(all, VMIG_RESUMING, VMIG_PRE_COPY,
		   "RESUMING -> STOP -> RUNNING_P2P -> RUNNING -> PRE_COPY");
	check_path(all, VMIG_RESUMING, VMIG_PRE_COPY_P2P,
		   "RESUMING -> STOP -> RUNNING_P2P -> PRE_COPY_P2P");
	check_path(all, VMIG_STOP_COPY, VMIG_PRE_COPY_P2P, "error -22");
	check_path(all, VMIG_RUNNING, VMIG_ERROR, "error -22");
	check_path(all, VMIG_ERROR, VMIG_RUNNING, "error -22");
	check_path(VMIG_FLAG_STOP_COPY, VMIG_RUNNING, VMIG_RUNNING_P2P, "error -22");
	check_path(VMIG_FLAG_P2P, VMIG_RUNNING, VMIG_STOP, "error -22");
	check_path(all, VMIG_STOP, VMIG_STOP, "STOP");

	/* Arcs and data fds. */
	CHECK(vmig_arc_supported(VMIG_FLAG_STOP_COPY, VMIG_RUNNING, VMIG_STOP),
	      "RUNNING -> STOP is an arc without P2P");
	CHECK(!vmig_arc_supported(all, VMIG_RUNNING, VMIG_STOP),
	      "RUNNING -> STOP is a combination with P2P");
	CHECK(!vmig_arc_supported(all, VMIG_PRE_COPY, VMIG_STOP_COPY) &&
	      vmig_arc_supported(VMIG_FLAG_STOP_COPY | VMIG_FLAG_PRE_COPY, VMIG_PRE_COPY, VMIG_STOP_COPY),
	      "PRE_COPY -> STOP_COPY is an arc only without P2P");
	CHECK(!vmig_arc_supported(all, VMIG_STOP_COPY, VMIG_PRE_COPY),
	      "STOP_COPY -> PRE_COPY is never an arc");
	CHECK(vmig_arc_gives_data_fd(VMIG_STOP, VMIG_STOP_COPY) &&
	      vmig_arc_gives_data_fd(VMIG_STOP, VMIG_RESUMING) &&
	      vmig_arc_gives_data_fd(VMIG_RUNNING, VMIG_PRE_COPY) &&
	      vmig_arc_gives_data_fd(VMIG_RUNNING_P2P, VMIG_PRE_COPY_P2P),
	      "the four arcs that open a data fd");
	CHECK(!vmig_arc_gives_data_fd(VMIG_PRE_COPY, VMIG_STOP_COPY) &&
	      !vmig_arc_gives_data_fd(VMIG_PRE_COPY_P2P, VMIG_STOP_COPY),
	      "PRE_COPY -> STOP_COPY keeps the fd it has");

	/* Names. */
	CHECK(vmig_state_parse("stop-copy") == VMIG_STOP_COPY, "stop-copy parses as STOP_COPY");
	CHECK(vmig_state_parse("Running_P2P") == VMIG_RUNNING_P2P, "state names ignore case");
	CHECK(vmig_state_parse("runnin") == -1 && vmig_state_parse("") == -1,
	      "unknown state names are refused");
	for (int s = 0; s < VMIG_NR_STATES; s++)
		CHECK(vmig_state_parse(vmig_state_name(s)) == s, "%s round-trips", vmig_state_name(s));
	char text[64];
	vmig_flags_format(all, text, sizeof(text), true, ",");
	CHECK(strcmp(text, "stop_copy,p2p,pre_copy") == 0, "flags format as stop_copy,p2p,pre_copy");
	vmig_flags_format(0x9, text, sizeof(text), false, " ");
	CHECK(strcmp(text, "STOP_COPY 0x8") == 0, "unknown flags show as hex (got %s)", text);
	CHECK(vmig_flags_valid(1) && !vmig_flags_valid(2) && !vmig_flags_valid(0x9),
	      "STOP_COPY is mandatory and unknown flags are invalid");
	return unit_done();
}
