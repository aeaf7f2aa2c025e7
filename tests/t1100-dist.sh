#!/usr/bin/env bash
# run-tests: alone (starts a chroot and servers of its own)
# t1100: the release tarball of this machine's architecture, as `make dist`
# leaves it in build/dist: the layout, the SHA256SUMS line, binaries that
# are static (they run in an empty chroot), --version --verbose, a save and
# restore round trip, and TLS with the CA bundle found or given through
# SSL_CERT_FILE, CURL_CA_BUNDLE and SSL_CERT_DIR against a local HTTPS
# server.  Skips when there is no tarball (plain `make check`).
# CICACHE_DIST_ARCH=aarch64 tests that tarball instead, under
# qemu-aarch64-static.
. "$(dirname "$0")/lib.sh"

DIST=$CICACHE_BUILD/dist
arch=${CICACHE_DIST_ARCH:-$(uname -m)}
set -- "$DIST"/cicache-*-linux-"$arch".tar.gz
[ -f "$1" ] || skip_all "no build/dist/cicache-*-linux-$arch.tar.gz (make dist DIST_ARCHES=$arch)"
EMU=
if [ "$arch" != "$(uname -m)" ]; then
	EMU=$(command -v "qemu-$arch-static") || skip_all "qemu-$arch-static is missing"
fi
# run PROGRAM ARGS: a program of the tarball, under qemu for another
# architecture.
run() { $EMU "$@"; }
TARBALL=$1
NAME=$(basename "$TARBALL" .tar.gz)
command -v openssl >/dev/null || skip_all "the openssl command is missing (test CA)"
B=$TRASH/$NAME/bin

test_expect_success 'the tarball unpacks to bin/, man/ and BUILDINFO; SHA256SUMS lists it' '
	tar -xzf "$TARBALL" &&
	for t in cache-save cache-restore cachebuild; do test -x "$B/$t" || exit 1; done &&
	test -f $NAME/man/man1/cache-save.1 &&
	expect_grep "^libc: musl " $NAME/BUILDINFO &&
	expect_grep "^  curl " $NAME/BUILDINFO &&
	(cd "$DIST" && grep " $NAME.tar.gz\$" SHA256SUMS | sha256sum -c -)
'

test_expect_success 'licenses/ holds the copyright notice of every library linked in' '
	for p in $(awk "!/^#/ && NF == 2 { print \$1 }" "$TEST_DIR/../dist/versions"); do
		test -s $NAME/licenses/$p || die "no licenses/$p"
		grep -qi "copyright" $NAME/licenses/$p || die "licenses/$p names no copyright"
	done &&
	expect_eq "$(ls $NAME/licenses | wc -l)" "$(awk "!/^#/ && NF == 2" "$TEST_DIR/../dist/versions" | wc -l)"
'

test_expect_success 'the name carries the version --version prints' '
	v=$(run "$B/cache-save" --version | sed -n "s/^cache-save (cicache) //p") &&
	expect_eq "$NAME" "cicache-$v-linux-$arch"
'

test_expect_success 'every program is static and stripped' '
	for b in "$B"/*; do
		file "$b" >f &&
		expect_grep "statically linked" f &&
		expect_grep ", stripped" f &&
		! readelf -d "$b" 2>/dev/null | grep -q NEEDED || exit 1
	done
'

test_expect_success 'they run in an empty chroot' '
	[ "$(id -u)" = 0 ] || { echo "# not root: no chroot"; exit 0; }
	mkdir root &&
	cp "$B"/* ${EMU:+"$EMU"} root/ &&
	for t in cache-save cache-restore cachebuild; do
		chroot root ${EMU:+/"${EMU##*/}"} /$t --version >out &&
		expect_grep "^$t (cicache) " out || exit 1
	done
'

# pinned PKG: the Debian version of PKG in dist/versions; upstream PKG: its
# upstream part (what the library itself reports), dots escaped for grep.
pinned() { awk -v p="$1" '$1 == p { print $2 }' "$TEST_DIR/../dist/versions"; }
upstream() { pinned "$1" | sed 's/^[0-9]*://; s/-[^-]*$//; s/\./\\./g'; }

test_expect_success '--version --verbose names the libraries and their Debian sources' '
	run "$B/cache-save" --version --verbose >out &&
	expect_grep "^libcurl: libcurl/[0-9.]* OpenSSL/[0-9.]*\$" out &&
	expect_grep "^libarchive: libarchive [0-9.]* zlib/[0-9.]* libzstd/[0-9.]*\$" out &&
	expect_grep "^jansson: $(upstream jansson)\$" out &&
	expect_grep "^expat: $(upstream expat)\$" out &&
	expect_grep "^build: .*Debian 12 sources: .*jansson $(pinned jansson)," out &&
	expect_grep "^build: .*Debian 12 sources: .*expat $(pinned expat)," out &&
	expect_grep "^build: linux-$arch, static, musl .*Debian 12 sources: .*curl 7" out &&
	expect_no_grep "^libc: glibc" out
'

test_expect_success 'save and restore a tree with the static binaries' '
	mkdir -p src/d && seq 1 50000 >src/d/text && head -c 300000 /dev/urandom >src/random &&
	ln -s d/text src/link &&
	run "$B/cache-save" --key dist --path src --store "$TRASH/store" &&
	mv src orig &&
	run "$B/cache-restore" --key dist --path src --store "$TRASH/store" >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree orig src
'

# A test CA, a certificate for 127.0.0.1 signed by it, and an HTTPS
# server on 127.0.0.1 that answers every S3 request "no such key" (a
# cache miss) and logs the requests it got.
test_expect_success 'set up a test CA and an HTTPS server on 127.0.0.1' '
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=cicache test CA" \
		-keyout ca.key -out ca.pem 2>/dev/null &&
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
		-keyout srv.key -out srv.csr 2>/dev/null &&
	printf "subjectAltName=IP:127.0.0.1\n" >ext &&
	openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
		-extfile ext -out srv.pem 2>/dev/null &&
	mkdir cadir && cp ca.pem cadir/ && openssl rehash cadir &&
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=another CA" \
		-keyout other.key -out other.pem 2>/dev/null &&
	cat >srv.py <<-\PY &&
	import http.server, ssl, sys
	class H(http.server.BaseHTTPRequestHandler):
	    def answer(self):
	        with open("requests.log", "a") as f:
	            f.write(self.command + " " + self.path + "\n")
	        # A bucket that holds nothing: an empty listing, else 404.
	        if self.command == "GET" and "list-type=2" in self.path:
	            body = b"<ListBucketResult><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>"
	            self.send_response(200)
	        else:
	            body = b"<Error><Code>NoSuchKey</Code></Error>"
	            self.send_response(404)
	        self.send_header("Content-Type", "application/xml")
	        self.send_header("Content-Length", str(len(body)))
	        self.end_headers()
	        if self.command != "HEAD":
	            self.wfile.write(body)
	    do_GET = do_HEAD = do_PUT = do_POST = answer
	    def log_message(self, *a): pass
	s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
	c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
	c.load_cert_chain("srv.pem", "srv.key")
	s.socket = c.wrap_socket(s.socket, server_side=True)
	open("port.tmp", "w").write(str(s.server_address[1]))
	import os; os.rename("port.tmp", "port")
	s.serve_forever()
	PY
	:
'
python3 srv.py >srv.out 2>&1 &
SRV_PID=$!
test_cleanup 'kill $SRV_PID; wait $SRV_PID 2>/dev/null'
for i in $(seq 1 100); do [ -s port ] && break; sleep 0.1; done
export AWS_ENDPOINT_URL=https://127.0.0.1:$(cat port 2>/dev/null)
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
unset AWS_CA_BUNDLE CURL_CA_BUNDLE SSL_CERT_FILE SSL_CERT_DIR AWS_PROFILE AWS_SESSION_TOKEN
unset AWS_ENDPOINT_URL_S3 AWS_REGION
restore_s3() { run "$B/cache-restore" --key tls --path p --store s3://bucket/x "$@"; }

test_expect_success 'HTTPS to a server the system CAs do not vouch for is refused' '
	: >requests.log &&
	expect_code 4 restore_s3 2>err &&
	expect_grep "certificate" err &&
	expect_eq "$(wc -l <requests.log)" 0
'

test_expect_success 'SSL_CERT_FILE names the CA: the request goes through (a miss)' '
	SSL_CERT_FILE=$TRASH/ca.pem restore_s3 >out &&
	expect_grep "^cache-hit=false$" out &&
	expect_grep "^[A-Z]* /bucket" requests.log
'

test_expect_success 'so does CURL_CA_BUNDLE, and SSL_CERT_DIR (a hashed directory)' '
	CURL_CA_BUNDLE=$TRASH/ca.pem restore_s3 >out &&
	expect_grep "^cache-hit=false$" out &&
	SSL_CERT_DIR=$TRASH/cadir restore_s3 >out &&
	expect_grep "^cache-hit=false$" out
'

test_expect_success 'a bundle without the test CA is refused, even named by the variables' '
	SSL_CERT_FILE=$TRASH/other.pem expect_code 4 restore_s3 2>err &&
	expect_grep "certificate" err &&
	CURL_CA_BUNDLE=$TRASH/other.pem expect_code 4 restore_s3 2>err &&
	expect_grep "certificate" err
'

test_done
