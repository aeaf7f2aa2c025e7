# tests/gha/start.sh: sourced by the GitHub Actions cache tests after
# tests/lib.sh.  gha_start installs what is missing (tests/gha/setup.sh),
# starts Azurite and the twirp fixture on 127.0.0.1, registers their
# shutdown, and exports what a step on a GitHub runner would see:
# ACTIONS_RESULTS_URL, ACTIONS_RUNTIME_TOKEN, ACTIONS_CACHE_SERVICE_V2,
# and for the REST API GITHUB_API_URL and GITHUB_REPOSITORY (the token
# with `actions: write` is $GHA_API_TOKEN; GITHUB_TOKEN is left unset).
# Helpers: gha_url (the fixture's base URL), gha_faults JSON, gha_log
# (the fixture's request log, JSON lines; also $TRASH/fixture/log.jsonl).
GHA_DIR=$TEST_DIR/gha

gha_free_port() {
	node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => {
		console.log(s.address().port); s.close(); })'
}

gha_start() {
	local i aport
	if ! command -v node >/dev/null || ! CICACHE_NPM_DIR=$(bash "$GHA_DIR/setup.sh"); then
		if [ "${CICACHE_ALLOW_NO_GHA:-}" = 1 ]; then
			skip_all "node, azurite or @actions/cache is missing (CICACHE_ALLOW_NO_GHA=1)"
		fi
		echo "not ok 1 - node 20 and tests/gha/setup.sh (npm: azurite, @actions/cache)" \
		     "are required for the GitHub Actions cache tests (CICACHE_ALLOW_NO_GHA=1 skips)"
		exit 1
	fi
	export CICACHE_NPM_DIR
	aport=$(gha_free_port)
	mkdir -p "$TRASH/azurite" "$TRASH/fixture"
	"$CICACHE_NPM_DIR/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 \
		--blobPort "$aport" --location "$TRASH/azurite" --silent \
		--skipApiVersionCheck --loose --disableTelemetry >"$TRASH/azurite.log" 2>&1 &
	AZURITE_PID=$!
	test_cleanup 'kill $AZURITE_PID 2>/dev/null; wait $AZURITE_PID 2>/dev/null'
	for i in $(seq 1 100); do
		curl -s -o /dev/null "http://127.0.0.1:$aport/" && break
		kill -0 $AZURITE_PID 2>/dev/null || break
		sleep 0.1
	done
	GHA_TOKEN=tok-$RANDOM$RANDOM
	GHA_API_TOKEN=api-$RANDOM$RANDOM
	node "$GHA_DIR/fixture.js" --azurite "http://127.0.0.1:$aport" \
		--state "$TRASH/fixture" --token "$GHA_TOKEN" --api-token "$GHA_API_TOKEN" \
		--repo octo-org/octo-repo >"$TRASH/fixture.out" 2>&1 &
	FIXTURE_PID=$!
	test_cleanup 'kill $FIXTURE_PID 2>/dev/null; wait $FIXTURE_PID 2>/dev/null'
	for i in $(seq 1 100); do
		[ -s "$TRASH/fixture/port" ] && break
		kill -0 $FIXTURE_PID 2>/dev/null || break
		sleep 0.1
	done
	if [ ! -s "$TRASH/fixture/port" ]; then
		echo "not ok 1 - the fixture did not start"
		sed 's/^/#   /' "$TRASH/azurite.log" "$TRASH/fixture.out"
		exit 1
	fi
	GHA_PORT=$(cat "$TRASH/fixture/port")
	export ACTIONS_RESULTS_URL="http://127.0.0.1:$GHA_PORT/"
	export ACTIONS_RUNTIME_TOKEN=$GHA_TOKEN
	export ACTIONS_CACHE_SERVICE_V2=true
	export RUNNER_TEMP="$TRASH/runner-temp" GITHUB_WORKSPACE="$TRASH"
	unset GITHUB_SERVER_URL ACTIONS_CACHE_URL
	# The REST API (list, delete): GITHUB_TOKEN is not in a step's
	# environment unless the workflow puts it there; tests that want it
	# set GITHUB_TOKEN=$GHA_API_TOKEN.
	export GITHUB_API_URL="http://127.0.0.1:$GHA_PORT" GITHUB_REPOSITORY=octo-org/octo-repo
	unset GITHUB_TOKEN
	mkdir -p "$RUNNER_TEMP"
}

gha_url() { echo "http://127.0.0.1:$GHA_PORT"; }
gha_faults() { curl -sf -X POST --data "$1" "$(gha_url)/_fixture/faults" >/dev/null; }
gha_log() { curl -sf "$(gha_url)/_fixture/log"; }
