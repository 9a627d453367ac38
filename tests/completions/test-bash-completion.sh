#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Drives completions/vfiomig.bash the way bash does (COMP_LINE, COMP_POINT,
# COMP_WORDS split at COMP_WORDBREAKS, COMP_CWORD) against a stub vfiomig on PATH
# that knows two devices and a few checks, with a scratch directory of stream and key files as the
# current directory, and prints TAP.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
stubdir=$(mktemp -d)
trap 'rm -rf "$stubdir"' EXIT

cat >"$stubdir/vfiomig" <<'STUB'
#!/bin/sh
if [ "$1" = list ] && [ "$2" = --names ]; then
	echo 0000:00:03.0
	echo 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
	exit 0
fi
if [ "$1" = check ] && [ "$2" = --list ]; then
	# the layout of the real one: name, destructive or blank, description
	printf '%-16s %-12s %s\n' flags '' 'the migration flags are a legal combination'
	printf '%-16s %-12s %s\n' arcs '' 'every FSM arc the flags promise works'
	printf '%-16s %-12s %s\n' paths '' 'every combination transition ends in the target state'
	printf '%-16s %-12s %s\n' precopy_info '' 'PRECOPY_INFO: answers in PRE_COPY'
	printf '%-16s %-12s %s\n' precopy_end '' "PRE_COPY's temporary end of stream is ENOMSG"
	printf '%-16s %-12s %s\n' roundtrip destructive 'saved, restored and saved again'
	printf '%-16s %-12s %s\n' recovery destructive 'a short resume is refused'
	exit 0
fi
echo "stub vfiomig: unexpected arguments: $*" >&2
exit 2
STUB
chmod +x "$stubdir/vfiomig"
PATH=$stubdir:$PATH

# File names complete relative to the current directory.
mkdir -p "$stubdir/files/d"
: >"$stubdir/files/a.vfm"
: >"$stubdir/files/b.key"
: >"$stubdir/files/c.pem"
cd "$stubdir/files" || exit 1

# shellcheck disable=SC1091  # the path is only known at run time
. "$top/completions/vfiomig.bash"

# Bash's own word splitting: blanks separate words, and each run of the
# COMP_WORDBREAKS characters ':' and '=' is a word of its own.
split_like_bash()
{
	local line=$1 word='' ch i
	COMP_WORDS=()
	for ((i = 0; i < ${#line}; i++)); do
		ch=${line:i:1}
		if [[ $ch == [[:blank:]] ]]; then
			[[ -n $word ]] && COMP_WORDS+=("$word")
			word=''
		elif [[ $ch == [:=] ]]; then
			if [[ -n $word && $word != [:=]* ]]; then
				COMP_WORDS+=("$word")
				word=''
			fi
			word+=$ch
		else
			if [[ $word == [:=]* ]]; then
				COMP_WORDS+=("$word")
				word=''
			fi
			word+=$ch
		fi
	done
	COMP_WORDS+=("$word")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
}

n=0
failed=0

# complete LINE: sets COMPREPLY as bash would after typing LINE and pressing TAB.
complete_line()
{
	COMP_LINE=$1
	COMP_POINT=${#1}
	split_like_bash "$1"
	COMPREPLY=()
	_vfiomig vfiomig "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
}

# expect DESCRIPTION LINE EXPECTED-REPLIES...: the sorted replies must match.
expect()
{
	local desc=$1 line=$2 got want
	shift 2
	complete_line "$line"
	got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
	want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
	[[ $# -eq 0 ]] && want=''
	[[ ${#COMPREPLY[@]} -eq 0 ]] && got=''
	n=$((n + 1))
	if [[ $got == "$want" ]]; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		echo "#   line:     '$line'"
		echo "#   expected: $want"
		echo "#   got:      $got"
		failed=$((failed + 1))
	fi
}

expect 'subcommands after the program name' \
	'vfiomig ' list info state check save restore migrate receive inspect verify
expect 'subcommand prefix' \
	'vfiomig st' state
expect 'subcommand prefix shared by save and state' \
	'vfiomig s' save state
expect 'global options before the subcommand' \
	'vfiomig --' --quiet --verbose --open-via= --help --version --usage
expect 'subcommand after a global option' \
	'vfiomig -v i' info inspect
expect 'open-via methods after --open-via=' \
	'vfiomig --open-via=' auto cdev group
expect 'open-via method prefix after --open-via=' \
	'vfiomig --open-via=c' cdev
expect 'open-via methods as a separate word' \
	'vfiomig --open-via ' auto cdev group
expect 'a separate --open-via value is not taken for the subcommand' \
	'vfiomig --open-via group ' list info state check save restore migrate receive \
	inspect verify
expect 'list options' \
	'vfiomig list --' --json --no-probe --names --quiet --verbose --open-via= \
	--help --version --usage
expect 'state options' \
	'vfiomig state --d' --dry-run
expect 'device names for info' \
	'vfiomig info ' 0000:00:03.0 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
expect 'device names for state' \
	'vfiomig state ' 0000:00:03.0 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
expect 'mdev UUID prefix' \
	'vfiomig state 83' 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
expect 'PCI address cut by bash at a colon completes the part after it' \
	'vfiomig info 0000:00:0' 03.0
expect 'PCI address ending in a colon' \
	'vfiomig info 0000:' 00:03.0
expect 'device names after a global option placed before the subcommand' \
	'vfiomig -q --open-via=cdev state 0' 0000:00:03.0
expect 'state names after the device' \
	'vfiomig state 0000:00:03.0 ' running stop stop_copy resuming running_p2p \
	pre_copy pre_copy_p2p
expect 'state name prefix' \
	'vfiomig state 0000:00:03.0 pre' pre_copy pre_copy_p2p
expect 'state names after options between device and state' \
	'vfiomig state --hold 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001 stop' stop stop_copy
expect 'more devices, not state names, after --reset' \
	'vfiomig state 0000:00:03.0 --reset ' 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
expect 'devices after --reset given first' \
	'vfiomig state --reset ' 0000:00:03.0 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
expect 'nothing after the state' \
	'vfiomig state 0000:00:03.0 stop '
expect 'nothing after the info device' \
	'vfiomig info 0000:00:03.0 '
expect 'no device names for list' \
	'vfiomig list '

# save, restore, inspect, verify
expect 'save options' \
	'vfiomig save --' --output= --resume --no-precopy --level= --no-compress \
	--threads= --key-file= --progress --no-progress --events= --quiet --verbose --open-via= \
	--help --version --usage
expect 'restore options' \
	'vfiomig restore --' --input= --stop --force --compat= --threads= --key-file= --progress \
	--no-progress --events= --quiet --verbose --open-via= --help --version --usage
expect 'compat policies after --compat=' \
	'vfiomig restore 0000:00:03.0 --compat=' strict driver ids
expect 'compat policy prefix as a separate word' \
	'vfiomig migrate --compat s' strict
expect 'a separate --compat value is not taken for a device' \
	'vfiomig receive --compat ids ' 0000:00:03.0 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
expect 'inspect options' \
	'vfiomig inspect --' --json --no-records --key-file= --quiet --verbose \
	--open-via= --help --version --usage
expect 'verify options, and - for stdin' \
	'vfiomig verify -' - --key-file= -q --quiet -v --verbose --open-via= -h --help \
	-V --version --usage
expect 'short options of save' \
	'vfiomig save 0000:00:03.0 -' -o --output= --resume --no-precopy -l --level= \
	--no-compress -T --threads= --key-file= --progress --no-progress --events= -q --quiet -v \
	--verbose --open-via= -h --help -V --version --usage
expect 'device names for save' \
	'vfiomig save ' 0000:00:03.0 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
expect 'device names for restore' \
	'vfiomig restore ' 0000:00:03.0 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
expect 'PCI address for restore cut by bash at a colon' \
	'vfiomig restore 0000:00:0' 03.0
expect 'files after -o' \
	'vfiomig save 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001 -o ' a.vfm b.key c.pem d
expect 'files after --output=' \
	'vfiomig save --output=' a.vfm b.key c.pem d
expect 'file prefix after --output=' \
	'vfiomig save --output=a' a.vfm
expect 'files after -i' \
	'vfiomig restore -i a' a.vfm
expect 'files after --input=' \
	'vfiomig restore 0000:00:03.0 --input=' a.vfm b.key c.pem d
expect 'files after --key-file' \
	'vfiomig save 0000:00:03.0 --key-file b' b.key
expect 'files after --key-file=' \
	'vfiomig verify --key-file=' a.vfm b.key c.pem d
expect 'nothing after -l (a number)' \
	'vfiomig save -l '
expect 'nothing after --level=' \
	'vfiomig save --level='
expect 'nothing after --threads (a number)' \
	'vfiomig save --threads '
expect 'nothing after -T (a number)' \
	'vfiomig save -T '
expect 'the value of -T is not taken for the device' \
	'vfiomig save -T 4 ' 0000:00:03.0 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
expect 'the value of -T is not taken for the restore device' \
	'vfiomig restore -T 2 ' 0000:00:03.0 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
expect 'nothing after --threads of receive (a number)' \
	'vfiomig receive --stdio --threads '
expect 'the value of -o is not taken for the device' \
	'vfiomig save -o out.vfm 8' 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
expect 'the value of --key-file is not taken for the device' \
	'vfiomig restore --key-file b.key ' 0000:00:03.0 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
expect 'nothing after the save device' \
	'vfiomig save 0000:00:03.0 '
expect 'nothing after the restore device' \
	'vfiomig restore 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001 '
expect 'files and - for inspect' \
	'vfiomig inspect ' a.vfm b.key c.pem d -
expect 'file prefix for verify' \
	'vfiomig verify a' a.vfm
expect 'files for inspect after its options' \
	'vfiomig inspect --json --key-file b.key a' a.vfm
expect 'no device names for inspect' \
	'vfiomig inspect 0'
expect 'nothing after the inspect file' \
	'vfiomig inspect a.vfm '
expect 'nothing after - for verify' \
	'vfiomig verify - '

# migrate and receive
expect 'subcommand prefix shared by migrate and list' \
	'vfiomig mi' migrate
expect 'subcommand prefix of receive' \
	'vfiomig rec' receive
expect 'nothing after --connections (a number)' \
	'vfiomig migrate --connections '
expect 'migrate options' \
	'vfiomig migrate --' --to= --exec= --connections= --psk-file= --cert= --key= --ca= --insecure \
	--timeout= --force --compat= --no-precopy --max-downtime= --max-rounds= --threads= --json \
	--progress --no-progress --events= --rehearse --quiet --verbose --open-via= --help --version \
	--usage
expect 'receive options' \
	'vfiomig receive --' --listen= --stdio --psk-file= --cert= --key= --ca= --insecure \
	--timeout= --accept-timeout= --stop --force --compat= --json --threads= --progress --no-progress --events= --quiet --verbose \
	--open-via= --help --version --usage
expect 'migrate option prefix --max' \
	'vfiomig migrate 0000:00:03.0 --max' --max-downtime= --max-rounds=
expect 'receive option prefix --st' \
	'vfiomig receive --st' --stdio --stop
expect 'device names for migrate' \
	'vfiomig migrate ' 0000:00:03.0 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
expect 'device names for receive' \
	'vfiomig receive ' 0000:00:03.0 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
expect 'migrate takes several devices, each offered once' \
	'vfiomig migrate 0000:00:03.0 ' 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
expect 'receive takes several devices after its options' \
	'vfiomig receive --stdio 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001 ' 0000:00:03.0
expect 'PCI address for migrate cut by bash at a colon' \
	'vfiomig migrate 0000:00:0' 03.0
expect 'nothing after migrate -T (a number)' \
	'vfiomig migrate 0000:00:03.0 -T '
expect 'device names after migrate -T N' \
	'vfiomig migrate -T 4 ' 0000:00:03.0 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
expect 'nothing after --to (HOST:PORT is free text)' \
	'vfiomig migrate 0000:00:03.0 --to '
expect 'nothing after --to=' \
	'vfiomig migrate --to='
expect 'nothing after --exec (a command is free text)' \
	'vfiomig migrate --exec '
expect 'nothing after --listen' \
	'vfiomig receive --listen '
expect 'nothing after --listen=' \
	'vfiomig receive --listen=127.0.0.1:'
expect 'nothing after --timeout (a number)' \
	'vfiomig receive --timeout '
expect 'nothing after --accept-timeout (a number)' \
	'vfiomig receive --accept-timeout '
expect 'nothing after --max-downtime= (a number)' \
	'vfiomig migrate --max-downtime='
expect 'nothing after --max-rounds (a number)' \
	'vfiomig migrate --max-rounds '
expect 'files after --psk-file' \
	'vfiomig migrate --psk-file ' a.vfm b.key c.pem d
expect 'files after --psk-file=' \
	'vfiomig receive --psk-file=b' b.key
expect 'files after --cert' \
	'vfiomig migrate --cert c' c.pem
expect 'files after --key=' \
	'vfiomig receive --key=' a.vfm b.key c.pem d
expect 'files after --ca' \
	'vfiomig receive --ca c' c.pem
expect 'nothing inside the quoted command of --exec' \
	"vfiomig migrate 0000:00:03.0 --exec 'ssh dst vfiomig receive "
expect 'nothing inside a double-quoted command of --exec' \
	'vfiomig migrate --exec="ssh dst vfiomig rec'
expect 'device names again after the quoted command of --exec' \
	"vfiomig migrate --exec 'ssh dst vfiomig receive x --stdio' 8" \
	83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
expect 'the value of --to is not taken for a device' \
	'vfiomig migrate --to dst:4444 8' 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
expect 'the value of --listen is not taken for a device' \
	'vfiomig receive --listen 4444 0' 0000:00:03.0
expect 'the value of --exec is not taken for a device' \
	'vfiomig migrate --exec ssh ' 0000:00:03.0 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
expect 'the value of --psk-file is not taken for a device' \
	'vfiomig receive --psk-file b.key --listen 0 ' 0000:00:03.0 \
	83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
expect 'the value of --key is not taken for a device' \
	'vfiomig migrate --cert c.pem --key b.key --ca c.pem 0' 0000:00:03.0

# check
expect 'subcommand prefix of check' \
	'vfiomig ch' check
expect 'check options' \
	'vfiomig check --' --list --only= --skip= --destructive --peer= --repeat= --json \
	--quiet --verbose --open-via= --help --version --usage
expect 'check option prefix --re' \
	'vfiomig check 0000:00:03.0 --re' --repeat=
expect 'device names for check' \
	'vfiomig check ' 0000:00:03.0 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
expect 'PCI address for check cut by bash at a colon' \
	'vfiomig check 0000:00:0' 03.0
expect 'check takes one device' \
	'vfiomig check 0000:00:03.0 '
expect 'no device after check --list' \
	'vfiomig check --list '
expect 'device names after --peer, but not the device under check' \
	'vfiomig check 0000:00:03.0 --peer ' 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
expect 'device names after --peer=' \
	'vfiomig check --peer=' 0000:00:03.0 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
expect 'PCI address after --peer= cut by bash at a colon' \
	'vfiomig check 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001 --peer=0000:00:0' 03.0
expect 'the device under check is not the --peer one' \
	'vfiomig check --destructive --peer 0000:00:03.0 ' \
	83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
expect 'the value of --peer= is not taken for the device' \
	'vfiomig check --peer=83b8f4f2-509f-382f-3c1e-e6bfe0fa1001 ' 0000:00:03.0
expect 'check names after --only' \
	'vfiomig check 0000:00:03.0 --only ' flags arcs paths precopy_info precopy_end \
	roundtrip recovery
expect 'check names after --skip=' \
	'vfiomig check --skip=' flags arcs paths precopy_info precopy_end roundtrip \
	recovery
expect 'check name prefix after --skip' \
	'vfiomig check --skip pre' precopy_info precopy_end
expect 'check name prefix after --only=' \
	'vfiomig check --only=r' roundtrip recovery
expect 'the next name of a comma-separated --only list, each name once' \
	'vfiomig check --only arcs,p' arcs,paths arcs,precopy_info arcs,precopy_end
expect 'the next name of a comma-separated --skip= list, each name once' \
	'vfiomig check --skip=roundtrip,flags,r' roundtrip,flags,recovery
expect 'the values of --only and --skip are not taken for the device' \
	'vfiomig check --only arcs --skip paths 8' 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
expect 'nothing after --repeat (a number)' \
	'vfiomig check --repeat '
expect 'nothing after --repeat=' \
	'vfiomig check --repeat='
expect 'the value of --repeat is not taken for the device' \
	'vfiomig check --repeat 5 0' 0000:00:03.0

# Without COMP_LINE (as some callers drive completion functions) COMP_WORDS is used.
unset COMP_LINE COMP_POINT
COMP_WORDS=(vfiomig state 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001 resu)
COMP_CWORD=3
COMPREPLY=()
_vfiomig vfiomig resu 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
n=$((n + 1))
if [[ ${COMPREPLY[*]} == resuming ]]; then
	echo "ok $n - COMP_WORDS alone is enough when COMP_LINE is unset"
else
	echo "not ok $n - COMP_WORDS alone is enough when COMP_LINE is unset"
	echo "#   got: ${COMPREPLY[*]}"
	failed=$((failed + 1))
fi

# Device names come from the program, not from a list in the script.
mv "$stubdir/vfiomig" "$stubdir/vfiomig.off"
printf '#!/bin/sh\nexit 3\n' >"$stubdir/vfiomig"
chmod +x "$stubdir/vfiomig"
expect 'no device names when vfiomig list --names fails' \
	'vfiomig info '
expect 'no check names when vfiomig check --list fails' \
	'vfiomig check --only '

echo "1..$n"
[[ $failed -eq 0 ]]
