#!/usr/bin/env bash
# Make sure PostgreSQL and Redis are installed, running and usable.
#
# Usage: scripts/services.sh [DBNAME...]
#   e.g. scripts/services.sh email_alert email_alert_test
#
# - Installs missing packages with apt-get when run as root (Debian 12),
#   otherwise says what to install and fails.
# - Starts PostgreSQL (cluster "main" of the newest installed version) and
#   Redis on 127.0.0.1 if they are not already answering.
# - Ensures a SUPERUSER LOGIN role for the current OS user and creates the
#   named databases if they are missing.
# - Idempotent and quiet when everything is already up; prints one line per
#   service when it had to do something. Exits non-zero on any failure:
#   callers must FAIL, never skip, when a service cannot be had.
set -euo pipefail

PG_PORT=5432
PG_SOCKET_DIR=/var/run/postgresql
REDIS_PORT=6379

die() {
	printf 'services: %s\n' "$*" >&2
	exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

USER_NAME="$(id -un)"

# --- arguments ---------------------------------------------------------------
DBS=("$@")
for db in "${DBS[@]+"${DBS[@]}"}"; do
	[[ "$db" =~ ^[a-z_][a-z0-9_]*$ ]] ||
		die "invalid database name '$db' (must match ^[a-z_][a-z0-9_]*\$)"
done

# --- apt helpers ---------------------------------------------------------------
APT_UPDATED=0
apt_update() {
	command -v apt-get >/dev/null 2>&1 ||
		die "apt-get not found; install PostgreSQL and Redis manually"
	if [ "$APT_UPDATED" -eq 0 ]; then
		apt-get update -qq || die "apt-get update failed"
		APT_UPDATED=1
	fi
}
apt_install() {
	apt_update
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" ||
		die "apt-get install $* failed"
}

# =============================================================================
# PostgreSQL
# =============================================================================
pg_actions=()

pg_up() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT" >/dev/null 2>&1; }

pg_have_server() {
	compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || return 1
	local c
	for c in pg_isready psql createdb pg_ctlcluster pg_createcluster; do
		command -v "$c" >/dev/null 2>&1 || return 1
	done
}

# Newest version that has server binaries installed, e.g. "15".
pg_newest_binary_version() {
	local p
	for p in /usr/lib/postgresql/*/bin/postgres; do
		[ -x "$p" ] || continue
		p="${p#/usr/lib/postgresql/}"
		printf '%s\n' "${p%%/*}"
	done | sort -V | tail -1
}

pg_start() {
	local version=""
	if [ -d /etc/postgresql ]; then
		# Version directories are plain names like "15"; ls is fine here.
		# shellcheck disable=SC2012
		version="$(ls /etc/postgresql | sort -V | tail -1)"
	fi
	[ -n "$version" ] || version="$(pg_newest_binary_version)"
	[ -n "$version" ] || die "PostgreSQL: no server version found under /usr/lib/postgresql"

	if is_root && id postgres >/dev/null 2>&1; then
		# /var/run is often a tmpfs that lost this directory.
		install -d -o postgres -g postgres -m 2775 "$PG_SOCKET_DIR"
	fi

	if [ ! -f "/etc/postgresql/$version/main/postgresql.conf" ]; then
		pg_createcluster "$version" main >/dev/null ||
			die "PostgreSQL: pg_createcluster $version main failed$(is_root || echo " (needs root)")"
		pg_actions+=("created cluster $version/main")
	fi

	# A non-zero exit here (e.g. "already running") is judged by the wait below.
	pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true

	local i
	for ((i = 0; i < 150; i++)); do # 150 * 0.2 s = 30 s
		pg_up && break
		sleep 0.2
	done
	if ! pg_up; then
		if pg_isready -q -h "$PG_SOCKET_DIR" -p "$PG_PORT" >/dev/null 2>&1; then
			die "PostgreSQL $version/main is running but not accepting TCP connections on 127.0.0.1:$PG_PORT (check listen_addresses/port in /etc/postgresql/$version/main/postgresql.conf)"
		fi
		die "PostgreSQL $version/main did not become ready on 127.0.0.1:$PG_PORT within 30 s (see /var/log/postgresql/postgresql-$version-main.log)"
	fi
	pg_actions+=("started $version/main")
}

pg_list_dbs() {
	psql -X -h "$PG_SOCKET_DIR" -p "$PG_PORT" -d postgres -tAc 'select datname from pg_database' 2>/dev/null
}

if ! pg_up; then
	if ! pg_have_server; then
		if is_root; then
			apt_update
			pkgs=(postgresql)
			# Plain "postgresql" is enough on Debian 12; add -contrib if offered.
			if apt-cache show postgresql-contrib >/dev/null 2>&1; then
				pkgs+=(postgresql-contrib)
			fi
			apt_install "${pkgs[@]}"
			pg_have_server || die "PostgreSQL: installed packages but server binaries/tools are still missing"
			pg_actions+=("installed")
		else
			die "PostgreSQL is not running and not installed; install it (Debian: sudo apt-get install postgresql postgresql-contrib) or re-run as root"
		fi
	fi
	pg_start
fi

# One query both checks that our role can log in and lists existing databases.
if ! existing_dbs="$(pg_list_dbs)"; then
	if is_root && id postgres >/dev/null 2>&1; then
		role_sql="CREATE ROLE \"${USER_NAME//\"/\"\"}\" SUPERUSER LOGIN"
		if ! out="$(cd / && runuser -u postgres -- psql -X -q -h "$PG_SOCKET_DIR" -p "$PG_PORT" -d postgres -c "$role_sql" 2>&1)"; then
			[[ "$out" == *"already exists"* ]] ||
				die "PostgreSQL: could not create role '$USER_NAME': $out"
		else
			pg_actions+=("created role $USER_NAME")
		fi
		existing_dbs="$(pg_list_dbs)" ||
			die "PostgreSQL: cannot connect as '$USER_NAME' via $PG_SOCKET_DIR even after creating the role (check pg_hba.conf)"
	else
		die "PostgreSQL: cannot connect as '$USER_NAME' via $PG_SOCKET_DIR; create the role, e.g.: sudo -u postgres createuser --superuser '$USER_NAME'"
	fi
fi

for db in "${DBS[@]+"${DBS[@]}"}"; do
	if ! grep -qxF -- "$db" <<<"$existing_dbs"; then
		createdb -h "$PG_SOCKET_DIR" -p "$PG_PORT" "$db" ||
			die "PostgreSQL: createdb $db failed"
		pg_actions+=("created database $db")
	fi
done

if [ "${#pg_actions[@]}" -gt 0 ]; then
	joined="$(printf '%s, ' "${pg_actions[@]}")"
	printf 'services: postgresql: %s\n' "${joined%, }"
fi

# =============================================================================
# Redis
# =============================================================================
redis_actions=()

redis_up() {
	[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
}

# Prints a writable directory: $1 if it can be created and written, else a
# fallback under ${TMPDIR:-/tmp}.
writable_dir() {
	local dir="$1" fallback="${TMPDIR:-/tmp}/email-alert-redis"
	if mkdir -p "$dir" 2>/dev/null && [ -w "$dir" ]; then
		printf '%s\n' "$dir"
	else
		mkdir -p "$fallback" || die "Redis: cannot create $fallback"
		printf '%s\n' "$fallback"
	fi
}

if ! redis_up; then
	if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
		if is_root; then
			apt_install redis-server
			command -v redis-server >/dev/null 2>&1 || die "Redis: installed redis-server but the binary is still missing"
			redis_actions+=("installed")
		else
			die "Redis is not running and not installed; install it (Debian: sudo apt-get install redis-server) or re-run as root"
		fi
	fi

	redis_dir="$(writable_dir /var/lib/redis)"
	redis_log="$(writable_dir /var/log/redis)/email-alert.log"
	redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
		--save "" --appendonly no --dir "$redis_dir" --logfile "$redis_log" >&2 ||
		die "Redis: redis-server failed to start (see $redis_log)"

	for ((i = 0; i < 75; i++)); do # 75 * 0.2 s = 15 s
		redis_up && break
		sleep 0.2
	done
	if ! redis_up; then
		tail -n 5 "$redis_log" 2>/dev/null | sed 's/^/services: redis log: /' >&2 || true
		die "Redis did not answer PONG on 127.0.0.1:$REDIS_PORT within 15 s (see $redis_log)"
	fi
	redis_actions+=("started")
fi

if [ "${#redis_actions[@]}" -gt 0 ]; then
	joined="$(printf '%s, ' "${redis_actions[@]}")"
	printf 'services: redis: %s\n' "${joined%, }"
fi
