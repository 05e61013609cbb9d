#!/usr/bin/env bash
# The main job (README "Run it"): build; start homeward-server on loopback
# with a fresh encrypted store; invite and enrol a device; record a case on
# the device (child profile, child assessment, follow-up visit with the 12
# Child Status Index scores); sync; show the server's merged records and its
# verified audit log. Everything is kept in a temporary folder it names.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
meson compile -C build >/dev/null

work=$(mktemp -d /tmp/homeward-demo-XXXXXX)
server=build/server/homeward-server
hw=build/client/homeward
state="$work/state"
say() { printf '\n== %s\n' "$*"; }

say "1. A regional office server: encrypted store, keys, recovery key for offline keeping"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/server.key"
chmod 600 "$work/server.key"
"$server" init --state-dir "$state" --key-file "$work/server.key" \
  --recovery-key-out "$work/recovery.key"

say "2. The server runs on 127.0.0.1 (log: $work/server.log)"
"$server" run --state-dir "$state" --key-file "$work/server.key" --listen 127.0.0.1:0 \
  2> "$work/server.log" &
server_pid=$!
trap 'kill -TERM $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S "$state/control.sock" ] && break; sleep 0.1; done

say "3. A coordinator invites an outreach worker's device"
invitation=$("$server" invite --state-dir "$state" --worker amina.k --coordinator joseph.m)
echo "$invitation"

say "4. The device makes its encrypted store and pins the server's key"
# Scripts pass the passphrase in the environment; a worker types it instead.
export HOMEWARD_PASSPHRASE='demo: amina keeps this phrase secret'
export HOMEWARD_STORE="$work/device.db"
"$hw" init "$invitation"

say "5. Offline, the worker records a case"
out=$("$hw" record child --set registered_on=2026-11-02 --set given_name=Amani \
  --set sex=female --set date_of_birth=2015-03-14 --set found_date=2026-10-30 \
  --set "found_place=Kisenyi bus park" --set separation_cause=street --set decision=open_case)
echo "$out"
case_id=$(echo "$out" | sed -n 's/.* in case \([0-9a-f]*\) .*/\1/p')
"$hw" record assessment --case "$case_id" --set assessment_date=2026-11-03 \
  --set "needs=education,psychosocial,family_tracing" \
  --set "child_wishes=To live with her grandmother and go back to school" \
  --set readiness=partly_ready --set decision=start_family_tracing
"$hw" record followup --case "$case_id" --set visit_date=2026-11-28 --set visit_type=home_visit \
  --set csi_food_security=3 --set csi_nutrition_growth=3 --set csi_shelter=2 --set csi_care=3 \
  --set csi_abuse_exploitation=4 --set csi_legal_protection=2 --set csi_wellness=3 \
  --set csi_health_services=3 --set csi_emotional_health=2 --set csi_social_behaviour=3 \
  --set csi_performance=2 --set csi_education_work=2 --set decision=increase_support
"$hw" list

say "6. Back online: sync"
"$hw" sync

say "7. The server's merged records"
"$server" records --state-dir "$state"

say "8. The server's audit log, its hash chain verified"
"$server" audit --state-dir "$state"

kill -TERM "$server_pid"
wait "$server_pid"
trap - EXIT
say "done: the server stopped cleanly; files are in $work"
