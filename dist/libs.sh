#!/usr/bin/env bash
# dist/libs.sh ARCH: builds the static libraries the release binaries link
# (musl for aarch64; zlib, zstd, xxhash, jansson, expat, OpenSSL, curl,
# libarchive), from the Debian 12 source packages pinned in dist/versions,
# each with only the features cicache uses, and their pkg-config files.
# Prints the prefix they are installed in.
#
# The prefix is cached, keyed by the architecture and a hash of this
# script and dist/versions: $CICACHE_DIST_CACHE, by default
# ~/.cache/cicache-dist (kept by `make clean`; a fresh CI machine starts
# without it).  Downloaded sources are cached there too.
#
# Needs: the toolchain variables set by dist/build.sh (CC_CROSS, HOST...),
# dpkg-dev for `apt-get source`.  Heavy steps run under nice -n 19 with
# make -j${DIST_JOBS:-2}.
set -euo pipefail
shopt -s inherit_errexit
arch=$1
here=$(cd "$(dirname "$0")" && pwd)
cache=${CICACHE_DIST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cicache-dist}
jobs=${DIST_JOBS:-2}
key=$(cat "$here/libs.sh" "$here/versions" | sha256sum | cut -c1-12)
prefix=$cache/$arch-$key
if [ -f "$prefix/.done" ]; then
	echo "$prefix"
	exit 0
fi

log() { echo "dist[$arch]: $*" >&2; }
nicely() { nice -n 19 "$@"; }

case $arch in
x86_64)  host=x86_64-linux-musl; cross=; ossl_target=linux-x86_64
	 kernel=/usr/include; kernel_asm=/usr/include/x86_64-linux-gnu/asm ;;
aarch64) host=aarch64-linux-musl; cross=aarch64-linux-gnu-; ossl_target=linux-aarch64
	 kernel=/usr/aarch64-linux-gnu/include; kernel_asm=$kernel/asm ;;
*) echo "dist/libs.sh: unknown architecture '$arch' (x86_64, aarch64)" >&2; exit 2 ;;
esac

version_of() { awk -v p="$1" '$1 == p { print $2 }' "$here/versions"; }

# fetch PKG: downloads the pinned source package once into $cache/src
# (apt checks it against the signed Sources index), with a private
# deb-src list and state so the machine's apt configuration is untouched.
srcdir=$cache/src
aptx=()
apt_ready() {
	[ ${#aptx[@]} -gt 0 ] && return
	local s=$cache/apt
	mkdir -p "$s/lists/partial"
	{
		echo "deb-src http://deb.debian.org/debian bookworm main"
		echo "deb-src http://deb.debian.org/debian bookworm-updates main"
		echo "deb-src http://deb.debian.org/debian-security bookworm-security main"
	} >"$s/sources.list"
	aptx=(-o Dir::Etc::SourceList="$s/sources.list" -o Dir::Etc::SourceParts=/dev/null
	      -o Dir::State::Lists="$s/lists" -o Dir::State::status=/dev/null
	      -o APT::Get::List-Cleanup=false -o APT::Sandbox::User=root -q)
	log "apt-get update (deb-src of bookworm)"
	apt-get "${aptx[@]}" update >&2
}
fetch() {
	local pkg=$1 ver d
	ver=$(version_of "$pkg")
	d=$srcdir/${pkg}_$(echo "$ver" | sed 's/^[0-9]*://')
	if [ ! -f "$d/.done" ]; then
		apt_ready
		rm -rf "$d" && mkdir -p "$d"
		log "apt-get source $pkg=$ver"
		if ! (cd "$d" && apt-get "${aptx[@]}" source --download-only "$pkg=$ver" >&2); then
			echo "dist/libs.sh: Debian no longer serves $pkg $ver; bump it in dist/versions" >&2
			exit 1
		fi
		touch "$d/.done"
	fi
}
# unpack PKG: a fresh tree of the package (Debian's patches applied) in
# the work directory; prints its path.
work=$cache/work-$arch
unpack() {
	local d=$srcdir/${1}_$(version_of "$1" | sed 's/^[0-9]*://')
	rm -rf "$work/$1"
	mkdir -p "$work"
	dpkg-source --no-check -x "$d"/*.dsc "$work/$1" >/dev/null
	echo "$work/$1"
}

for p in $(awk '!/^#/ && NF == 2 { print $1 }' "$here/versions"); do
	[ "$p" = musl ] && [ "$arch" = x86_64 ] && continue
	fetch "$p"
done
# Each library is built once into the prefix; a stamp file marks it done,
# so an interrupted run resumes with the next one.
step() { [ ! -f "$prefix/.$1" ]; }
stamp() { touch "$prefix/.$1"; }
rm -rf "$work"
mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
export PKG_CONFIG_LIBDIR=$prefix/lib/pkgconfig PKG_CONFIG_PATH=
export AR=${cross}ar RANLIB=${cross}ranlib STRIP=${cross}strip
# musl-gcc sees only musl's headers; OpenSSL also wants the kernel's
# (linux/mman.h), which Debian's linux-libc-dev (or its arm64 cross twin)
# provides: linked into the prefix, searched after musl's.
mkdir -p "$prefix/kernel-include"
ln -sfn "$kernel/linux" "$prefix/kernel-include/linux"
ln -sfn "$kernel/asm-generic" "$prefix/kernel-include/asm-generic"
ln -sfn "$kernel_asm" "$prefix/kernel-include/asm"
opt="-O2 -ffunction-sections -fdata-sections -idirafter $prefix/kernel-include"

# The C library: Debian's musl-tools for x86_64; for aarch64 musl built
# from the same Debian source with the cross compiler, giving a musl-gcc
# wrapper around aarch64-linux-gnu-gcc.
if [ "$arch" = x86_64 ]; then
	cc=musl-gcc
else
	cc=$prefix/musl/bin/musl-gcc
	if step musl; then
		s=$(unpack musl)
		log "musl"
		(cd "$s" && ./configure --prefix="$prefix/musl" --target=aarch64-linux-musl \
			CROSS_COMPILE="$cross" CC="${cross}gcc" --disable-shared \
			--enable-wrapper=gcc >&2 &&
		 nicely make -j"$jobs" >&2 && make install >&2)
		stamp musl
	fi
fi
echo "$cc" >"$prefix/cc"

if step zlib; then
	s=$(unpack zlib)
	log "zlib"
	(cd "$s" && CC=$cc CFLAGS="$opt" CHOST=$host ./configure --static --prefix="$prefix" >&2 &&
	 nicely make -j"$jobs" libz.a >&2 && make install >&2)
	stamp zlib
fi

if step libzstd; then
	s=$(unpack libzstd)
	log "zstd"
	# The library only, multithreaded (cicache compresses with workers), no
	# legacy formats, no dictionary builder.
	(cd "$s/lib" && nicely make -j"$jobs" CC="$cc" CFLAGS="$opt" CPPFLAGS=-DZSTD_MULTITHREAD \
		ZSTD_LEGACY_SUPPORT=0 ZSTD_LIB_DICTBUILDER=0 ZSTD_LIB_DEPRECATED=0 libzstd.a >&2 &&
	 make PREFIX="$prefix" CC="$cc" CPPFLAGS=-DZSTD_MULTITHREAD ZSTD_LEGACY_SUPPORT=0 \
		ZSTD_LIB_DICTBUILDER=0 ZSTD_LIB_DEPRECATED=0 install-static install-includes install-pc >&2)
	sed -i 's/^Libs.private:.*/Libs.private: -pthread/' "$prefix/lib/pkgconfig/libzstd.pc"
	stamp libzstd
fi

if step xxhash; then
	s=$(unpack xxhash)
	log "xxhash"
	(cd "$s" && nicely "$cc" $opt -c xxhash.c -o xxhash.o && "$AR" rcs libxxhash.a xxhash.o &&
	 cp libxxhash.a "$prefix/lib/" && cp xxhash.h xxh3.h "$prefix/include/")
	cat >"$prefix/lib/pkgconfig/libxxhash.pc" <<-PC
	prefix=$prefix
	Name: libxxhash
	Description: xxHash (static, dist build)
	Version: $(version_of xxhash)
	Libs: -L\${prefix}/lib -lxxhash
	Cflags: -I\${prefix}/include
	PC
	stamp xxhash
fi

if step jansson; then
	s=$(unpack jansson)
	log "jansson"
	# The JSON reader and writer of common/: the static library, its two
	# headers and jansson.pc, nothing else (no docs, no tests).  Debian's
	# source ships no configure: autoreconf first, as dh does.
	(cd "$s" && nicely autoreconf -fi >&2 && nicely ./configure --host="$host" CC="$cc" CFLAGS="$opt" \
		--prefix="$prefix" --disable-shared --enable-static >&2 &&
	 nicely make -j"$jobs" -C src libjansson.la >&2 &&
	 make -C src install-libLTLIBRARIES install-includeHEADERS install-nodist_includeHEADERS >&2 &&
	 make install-pkgconfigDATA >&2)
	stamp jansson
fi

if step expat; then
	s=$(unpack expat)
	log "expat"
	# The XML reader of common/: the static library (with expat's own
	# protection against entity amplification, since 2.4), its headers and
	# expat.pc; no xmlwf, examples, tests or docs.  Debian's patches touch
	# Makefile.am, so buildconf.sh first, as debian/rules does.
	(cd "$s/expat" && nicely ./buildconf.sh >&2 && nicely ./configure --host="$host" CC="$cc" CFLAGS="$opt" \
		--prefix="$prefix" --disable-shared --enable-static --without-xmlwf \
		--without-examples --without-tests --without-docbook >&2 &&
	 nicely make -j"$jobs" -C lib libexpat.la >&2 &&
	 make -C lib install-libLTLIBRARIES install-includeHEADERS >&2 && make install-pkgconfigDATA >&2)
	stamp expat
fi

if step openssl; then
	s=$(unpack openssl)
	log "openssl (the slow one)"
	# TLS for curl and the hashes/HMAC of common/; no engines, no modules,
	# no dynamic loading.  The configuration and certificates directory is
	# /etc/ssl, the usual place on most distributions (http.c finds the CA
	# bundle itself anyway).
	(cd "$s" && CC=$cc ./Configure "$ossl_target" --prefix="$prefix" --libdir=lib \
		--openssldir=/etc/ssl no-shared no-module no-dso no-engine no-afalgeng no-tests \
		no-comp no-ssl3 no-srp no-idea no-legacy $opt >&2 &&
	 nicely make -j"$jobs" build_libs >&2 && make install_dev >&2)
	stamp openssl
fi

if step curl; then
	s=$(unpack curl)
	log "curl"
	# HTTP and HTTPS over OpenSSL, and nothing else: no HTTP/2, no
	# compression, no IDN, no other protocols.  No built-in CA path: http.c
	# looks for the bundle where each distribution keeps it.
	(cd "$s" && nicely ./configure --host="$host" CC="$cc" CFLAGS="$opt" LIBS=-pthread \
		--prefix="$prefix" --disable-shared --enable-static --with-openssl="$prefix" \
		--without-ca-bundle --without-ca-path --with-ca-fallback \
		--without-zlib --without-brotli --without-zstd --without-libpsl --without-libidn2 \
		--without-nghttp2 --without-ngtcp2 --without-nghttp3 --without-quiche \
		--without-libssh --without-libssh2 --without-librtmp --without-libgsasl \
		--without-hyper --without-gssapi --disable-ldap --disable-ldaps --disable-rtsp \
		--disable-dict --disable-telnet --disable-tftp --disable-pop3 --disable-imap \
		--disable-smtp --disable-gopher --disable-mqtt --disable-smb --disable-ftp \
		--disable-file --disable-manual --disable-ntlm --disable-ntlm-wb --disable-unix-sockets \
		--disable-cookies --enable-threaded-resolver >&2 &&
	 nicely make -j"$jobs" -C lib >&2 && make -C lib install >&2 && make -C include install >&2 &&
	 install -m 644 libcurl.pc "$prefix/lib/pkgconfig/")
	stamp curl
fi

if step libarchive; then
	s=$(unpack libarchive)
	log "libarchive"
	# Reading tar, gzip (zlib) and zstd: what builder/ and common/gha-legacy.c
	# use.  No ACLs, xattrs, crypto, XML or other compressors.  Debian's
	# patches touch configure.ac and Makefile.am, so autogen.sh first, as
	# debian/rules does.  (curl's touch only builds not made here: GnuTLS,
	# NSS, LDAP, GSSAPI, zsh completion; its shipped configure is used.)
	(cd "$s" && nicely sh build/autogen.sh >&2 && nicely ./configure --host="$host" CC="$cc" CFLAGS="$opt" LIBS=-pthread \
		CPPFLAGS="-I$prefix/include" LDFLAGS="-L$prefix/lib" \
		--prefix="$prefix" --disable-shared --enable-static \
		--disable-bsdtar --disable-bsdcat --disable-bsdcpio --disable-acl --disable-xattr \
		--with-zlib --with-zstd --without-bz2lib --without-libb2 --without-lz4 --without-lzma \
		--without-lzo2 --without-cng --without-openssl --without-mbedtls --without-nettle \
		--without-xml2 --without-expat >&2 &&
	 nicely make -j"$jobs" libarchive.la >&2 && make install-libLTLIBRARIES install-includeHEADERS \
		install-pkgconfigDATA >&2)
	grep -q 'HAVE_ZSTD_H 1' "$s/config.h" && grep -q 'HAVE_LIBZ 1' "$s/config.h" || {
		echo "dist/libs.sh: libarchive was configured without zstd or zlib" >&2; exit 1; }

	stamp libarchive
fi

# What the GNUmakefile's PKGS asks pkg-config for, as dist/build.sh asks.
if ! pkg-config --static --libs libzstd libxxhash libcurl openssl libarchive jansson expat >/dev/null; then
	echo "dist/libs.sh: pkg-config --static finds not every library in $prefix" >&2
	exit 1
fi
rm -rf "$work"
touch "$prefix/.done"
echo "$prefix"
