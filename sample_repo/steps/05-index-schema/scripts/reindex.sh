#!/bin/sh
# Rebuild the SQLite index of a store from its log.
#
# usage: reindex.sh STORE_DIR
set -eu

store=${1:?usage: ${0##*/} STORE_DIR}
db="$store/index.sqlite"
here=$(dirname "$0")

rm -f "$db"
sqlite3 "$db" < "$here/../schema/index.sql"

# FIXME: a value holding a single quote breaks the generated SQL
awk -F '\t' '
    { printf "INSERT INTO records (key, value, log_offset) VALUES (\047%s\047, \047%s\047, %d);\n", $1, $2, off
      off += length($0) + 1 }
' "$store/log" | sqlite3 "$db"
