# SPDX-License-Identifier: GPL-2.0-or-later
# bash completion for vfiomig(1): subcommands, options, --open-via methods, state
# names, device names taken from `vfiomig list --names`, check names taken from
# `vfiomig check --list`, stream, key and certificate files.
# Works with or without the bash-completion package.

_vfiomig_global_opts='-q --quiet -v --verbose --open-via= -h --help -V --version --usage'
_vfiomig_states='running stop stop_copy resuming running_p2p pre_copy pre_copy_p2p'
_vfiomig_commands='list info state check save restore migrate receive inspect verify'

# The words up to the cursor as the user typed them. Bash splits COMP_WORDS at
# ':' and '=', which cuts PCI addresses and --open-via=X apart, so split the raw
# line on blanks instead when bash provides it. _vfiomig_quoted says whether the
# cursor is inside an open quote, such as a --exec command being typed.
_vfiomig_line_words()
{
	_vfiomig_quoted=0
	if [[ -n ${COMP_LINE+set} && -n ${COMP_POINT+set} ]]; then
		local line=${COMP_LINE:0:COMP_POINT}
		local single=${line//[!\']/} double=${line//[!\"]/}
		((${#single} % 2 || ${#double} % 2)) && _vfiomig_quoted=1
		read -ra _vfiomig_words <<<"$line"
		[[ $line == *[[:blank:]] || ${#_vfiomig_words[@]} -eq 0 ]] &&
			_vfiomig_words+=("")
	else
		_vfiomig_words=("${COMP_WORDS[@]:0:COMP_CWORD+1}")
	fi
}

# Bash replaces only the text after the last word break, so drop the part of
# each reply up to the last ':' or '=' of the current word (when those break).
_vfiomig_trim_breaks()
{
	local cur=$1 prefix='' i
	for ((i = ${#cur} - 1; i >= 0; i--)); do
		local ch=${cur:i:1}
		if [[ ( $ch == : || $ch == = ) && $COMP_WORDBREAKS == *"$ch"* ]]; then
			prefix=${cur:0:i+1}
			break
		fi
	done
	[[ -z $prefix ]] && return
	for i in "${!COMPREPLY[@]}"; do
		COMPREPLY[i]=${COMPREPLY[i]#"$prefix"}
	done
}

_vfiomig_program()
{
	local prog=${_vfiomig_words[0]}
	if [[ $prog == */* && -x $prog ]]; then
		printf '%s\n' "$prog"
	else
		printf '%s\n' vfiomig
	fi
}

# Device names for the current word, except the names given as further arguments;
# prefix is an option and '=' written in the same word. A path completes as a file.
_vfiomig_devices()
{
	local cur=$1 prefix=$2 name given names=''
	shift 2
	if [[ ${cur#"$prefix"} == /* ]]; then
		_vfiomig_files "$cur" "$prefix"
		return
	fi
	while read -r name; do
		for given in "$@"; do
			[[ $name == "$given" ]] && continue 2
		done
		names+=" $name"
	done < <("$(_vfiomig_program)" list --names 2>/dev/null)
	mapfile -t COMPREPLY < <(compgen -P "$prefix" -W "$names" -- "${cur#"$prefix"}")
	_vfiomig_trim_breaks "$cur"
}

# Check names for --only and --skip, a comma-separated list: the first column of
# `vfiomig check --list`, each name once. prefix is an option and '=' written in
# the same word.
_vfiomig_check_names()
{
	local cur=$1 prefix=$2 list name given names='' done_part=''
	local -a given_names=()
	list=${cur#"$prefix"}
	if [[ $list == *,* ]]; then
		done_part=${list%,*},
		IFS=, read -ra given_names <<<"${done_part%,}"
	fi
	while read -r name _; do
		[[ -z $name ]] && continue
		for given in "${given_names[@]}"; do
			[[ $name == "$given" ]] && continue 2
		done
		names+=" $name"
	done < <("$(_vfiomig_program)" check --list 2>/dev/null)
	mapfile -t COMPREPLY < <(compgen -P "$prefix$done_part" -W "$names" -- "${list#"$done_part"}")
	_vfiomig_trim_breaks "$cur"
}

# Files for the current word; prefix is an option and '=' written in the same word.
_vfiomig_files()
{
	local cur=$1 prefix=${2-}
	compopt -o filenames 2>/dev/null
	mapfile -t COMPREPLY < <(compgen -P "$prefix" -f -- "${cur#"$prefix"}")
	_vfiomig_trim_breaks "$cur"
}

_vfiomig()
{
	local _vfiomig_words _vfiomig_quoted cur prev command='' reset=0 list=0 peer='' i
	local -a positional=()
	COMPREPLY=()
	_vfiomig_line_words
	# Inside quotes is free text, such as the command of migrate --exec.
	((_vfiomig_quoted)) && return 0
	local n=${#_vfiomig_words[@]}
	cur=${_vfiomig_words[n - 1]}
	prev=''
	((n > 1)) && prev=${_vfiomig_words[n - 2]}

	# Find the subcommand and the positional arguments typed before the cursor.
	for ((i = 1; i < n - 1; i++)); do
		local w=${_vfiomig_words[i]}
		case $w in
		--open-via | -o | --output | -i | --input | --key-file | -l | --level | \
			-T | --threads | --to | --exec | --listen | --psk-file | --cert | --key | \
			--ca | --timeout | --accept-timeout | --max-downtime | --max-rounds | \
			--connections | --only | --skip | --repeat | --compat) ((i++)) ;;
		--peer)
			((i++))
			((i < n - 1)) && peer=${_vfiomig_words[i]}
			;;
		--peer=*) peer=${w#--peer=} ;;
		--reset) reset=1 ;;
		--list) list=1 ;;
		-) positional+=("$w") ;;
		-*) ;;
		*)
			if [[ -z $command ]]; then
				command=$w
			else
				positional+=("$w")
			fi
			;;
		esac
	done

	if [[ $prev == --open-via ]]; then
		mapfile -t COMPREPLY < <(compgen -W 'auto cdev group' -- "$cur")
		return 0
	fi
	if [[ $cur == --open-via=* ]]; then
		mapfile -t COMPREPLY < <(compgen -P --open-via= -W 'auto cdev group' -- "${cur#--open-via=}")
		_vfiomig_trim_breaks "$cur"
		return 0
	fi
	if [[ $prev == --compat ]]; then
		mapfile -t COMPREPLY < <(compgen -W 'strict driver ids' -- "$cur")
		return 0
	fi
	if [[ $cur == --compat=* ]]; then
		mapfile -t COMPREPLY < <(compgen -P --compat= -W 'strict driver ids' -- "${cur#--compat=}")
		_vfiomig_trim_breaks "$cur"
		return 0
	fi
	# Option values: files for the stream, key and certificate options, devices for
	# check --peer (not the device under check), check names for --only and --skip;
	# nothing to offer for numbers, addresses and commands, which are free text.
	case $prev in
	-o | --output | -i | --input | --key-file | --psk-file | --cert | --key | --ca | --events)
		_vfiomig_files "$cur"
		return 0
		;;
	--peer)
		_vfiomig_devices "$cur" '' "${positional[@]}"
		return 0
		;;
	--only | --skip)
		_vfiomig_check_names "$cur" ''
		return 0
		;;
	-l | --level | -T | --threads | --timeout | --accept-timeout | --max-downtime | \
		--max-rounds | --connections | --to | --exec | --listen | --repeat)
		return 0
		;;
	esac
	case $cur in
	--output=* | --input=* | --key-file=* | --psk-file=* | --cert=* | --key=* | --ca=* | \
		--events=*)
		_vfiomig_files "$cur" "${cur%%=*}="
		return 0
		;;
	--peer=*)
		_vfiomig_devices "$cur" --peer= "${positional[@]}"
		return 0
		;;
	--only=* | --skip=*)
		_vfiomig_check_names "$cur" "${cur%%=*}="
		return 0
		;;
	--level=* | --threads=* | --timeout=* | --accept-timeout=* | --max-downtime=* | \
		--max-rounds=* | --connections=* | --to=* | --exec=* | --listen=* | --repeat=*)
		return 0
		;;
	esac

	if [[ $cur == -* ]]; then
		local opts=$_vfiomig_global_opts
		case $command in
		list) opts+=' --json --no-probe --names' ;;
		info) opts+=' --json' ;;
		state) opts+=' --dry-run --hold --reset --json' ;;
		check)
			opts+=' --list --only= --skip= --destructive --peer= --repeat= --json'
			;;
		save)
			opts+=' -o --output= --resume --no-precopy -l --level= --no-compress'
			opts+=' -T --threads= --key-file= --progress --no-progress --events='
			;;
		restore)
			opts+=' -i --input= --stop --force --compat= -T --threads= --key-file= --progress'
			opts+=' --no-progress --events='
			;;
		migrate)
			opts+=' --to= --exec= --psk-file= --cert= --key= --ca= --insecure --timeout='
			opts+=' --force --compat= --no-precopy --max-downtime= --max-rounds= -T --threads= --json'
			opts+=' --connections= --progress --no-progress --events= --rehearse'
			;;
		receive)
			opts+=' --listen= --stdio --psk-file= --cert= --key= --ca= --insecure'
			opts+=' --timeout= --accept-timeout= --stop --force --compat= --json -T --threads= --progress --no-progress'
			opts+=' --events='
			;;
		inspect) opts+=' --json --no-records --key-file=' ;;
		verify) opts+=' --key-file=' ;;
		esac
		# inspect and verify read stdin when the file is '-'
		if [[ ($command == inspect || $command == verify) && ${#positional[@]} -eq 0 ]]; then
			opts+=' -'
		fi
		mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
		if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]]; then
			compopt -o nospace 2>/dev/null
		fi
		return 0
	fi

	case $command in
	'')
		mapfile -t COMPREPLY < <(compgen -W "$_vfiomig_commands" -- "$cur")
		;;
	info | state | save | restore)
		if [[ $command == state && $reset -eq 1 ]]; then
			# state --reset DEVICE...: each device once
			_vfiomig_devices "$cur" '' "${positional[@]}"
		elif [[ ${#positional[@]} -eq 0 ]]; then
			if [[ $cur == /* ]]; then
				mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			else
				local names
				names=$("$(_vfiomig_program)" list --names 2>/dev/null)
				mapfile -t COMPREPLY < <(compgen -W "$names" -- "$cur")
				_vfiomig_trim_breaks "$cur"
			fi
		elif [[ $command == state && ${#positional[@]} -eq 1 && $reset -eq 0 ]]; then
			mapfile -t COMPREPLY < <(compgen -W "$_vfiomig_states" -- "$cur")
		fi
		;;
	check)
		# one DEVICE, not the --peer one; none with --list
		if [[ ${#positional[@]} -eq 0 && $list -eq 0 ]]; then
			_vfiomig_devices "$cur" '' "$peer"
		fi
		;;
	migrate | receive)
		# DEVICE...: any number, paired in order with the peer's; each one once
		if [[ $cur == /* ]]; then
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		else
			local names='' name given
			while read -r name; do
				for given in "${positional[@]}"; do
					[[ $name == "$given" ]] && continue 2
				done
				names+=" $name"
			done < <("$(_vfiomig_program)" list --names 2>/dev/null)
			mapfile -t COMPREPLY < <(compgen -W "$names" -- "$cur")
			_vfiomig_trim_breaks "$cur"
		fi
		;;
	inspect | verify)
		if [[ ${#positional[@]} -eq 0 ]]; then
			_vfiomig_files "$cur"
			[[ -z $cur ]] && COMPREPLY+=(-)
		fi
		;;
	esac
	return 0
}

complete -F _vfiomig vfiomig
