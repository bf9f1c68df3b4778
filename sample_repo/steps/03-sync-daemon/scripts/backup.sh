#!/bin/sh
# Copy a burrow store into a time-stamped directory.
#
# usage: backup.sh STORE_DIR DEST_DIR
set -eu

usage="usage: ${0##*/} STORE_DIR DEST_DIR"
store=${1:?$usage}
dest=${2:?$usage}
stamp=$(date +%Y%m%d-%H%M%S)

# fixmeup: give the copy back the owner and mode of the original store
fixmeup() {
    chown -R --reference="$store" "$1" 2>/dev/null || true
    chmod -R --reference="$store" "$1" 2>/dev/null || true
}

# TODO: take the daemon's lock before copying
#   a put that lands mid-copy leaves log and HEAD out of step in the copy
mkdir -p "$dest/$stamp"
cp "$store/log" "$store/HEAD" "$dest/$stamp/"
fixmeup "$dest/$stamp"
echo "copied to $dest/$stamp"
