#!/usr/bin/env bash
# Builds dist/postbackd_<version>_<arch>.deb with dpkg-deb, then runs lintian on it (an error
# fails the build). The binaries are release builds with the Swift standard library and
# Foundation linked in (--static-swift-stdlib), so the package runs on a Debian 12 without a
# Swift toolchain; Depends comes from dpkg-shlibdeps on those binaries.
#
# What goes where (Debian 12): binaries in /usr/bin, the unit in /lib/systemd/system (where
# bookworm's systemd and debhelper put units), sysusers and tmpfiles snippets in /usr/lib,
# /etc/postbackd/postbackd.conf and an empty catalog as conffiles, man pages postbackd(8) and
# postbackctl(8) with one page a subcommand (argument-parser's generate-manual), bash, zsh and
# fish completions. Maintainer scripts and the control template: dist-tools/.
#
# Usage: scripts/package.sh        Needs: Swift 6, dpkg-dev, lintian (scripts/setup.sh --packaging).
# Environment: SCRATCH (build folder, default .build-pkg), NO_LINTIAN=1 to skip the lintian run.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
scratch=${SCRATCH:-$here/.build-pkg}
tools=$here/dist-tools

for tool in dpkg-deb dpkg-shlibdeps strip; do
    command -v "$tool" >/dev/null || { echo "package: $tool not found (scripts/setup.sh --packaging)" >&2; exit 2; }
done

echo "package: building release binaries (static Swift stdlib) in $scratch"
# --disable-local-rpath: no $ORIGIN run path, there are no libraries of ours beside the binaries.
build=(swift build --scratch-path "$scratch" -c release --static-swift-stdlib --disable-local-rpath)
nice -n 10 "${build[@]}" --product postbackd >/dev/null
nice -n 10 "${build[@]}" --product postbackctl >/dev/null
bin=$("${build[@]}" --show-bin-path)
# The man page generator from swift-argument-parser, which its generate-manual plugin runs. Built
# from the checkout as a package of its own: the plugin would first build this whole package
# again without --static-swift-stdlib (4 minutes here), and a dependency's executable target
# has no product to build alone.
nice -n 10 swift build --package-path "$scratch/checkouts/swift-argument-parser" \
    --scratch-path "$scratch/argument-parser-tools" --product generate-manual >/dev/null
generate_manual=$(swift build --package-path "$scratch/checkouts/swift-argument-parser" \
    --scratch-path "$scratch/argument-parser-tools" --show-bin-path)/generate-manual

version=$("$bin/postbackd" --version)
arch=$(dpkg --print-architecture)
changelog_version=$(sed -n '1s/^postbackd (\([^)]*\)).*/\1/p' "$tools/changelog")
if [ "$version" != "$changelog_version" ]; then
    echo "package: postbackd --version is $version, dist-tools/changelog says $changelog_version" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root

install -d "$root/usr/bin"
for exe in postbackd postbackctl; do
    install -m 0755 "$bin/$exe" "$root/usr/bin/$exe"
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/$exe"
done

install -D -m 0644 systemd/postbackd.service "$root/lib/systemd/system/postbackd.service"
install -D -m 0644 systemd/postbackd.sysusers "$root/usr/lib/sysusers.d/postbackd.conf"
install -D -m 0644 systemd/postbackd.tmpfiles "$root/usr/lib/tmpfiles.d/postbackd.conf"

# The settings file: the repository's documented example with the installed paths (which are
# also the built-in defaults) and without the demo's loopback allowance. Each edit must match.
install -d -m 0755 "$root/etc/postbackd"
conf=$root/etc/postbackd/postbackd.conf
edit_conf() {
    local from=$1 to=$2
    grep -qxF -- "$from" "$conf" || { echo "package: config/postbackd.conf has no line '$from'" >&2; exit 1; }
    FROM=$from TO=$to python3 -c '
import os, sys
p = sys.argv[1]; lines = open(p).read().split("\n")
open(p, "w").write("\n".join(os.environ["TO"] if l == os.environ["FROM"] else l for l in lines))' "$conf"
}
install -m 0644 config/postbackd.conf "$conf"
edit_conf "# This example runs as-is from the repository's top folder (see README.md)." \
    "# From the postbackd package. Apply with systemctl reload postbackd (the journal names what needs a restart)."
edit_conf "spool = var/spool" "spool = /var/lib/postbackd/spool"
edit_conf "catalog = config/catalog.json" "catalog = /etc/postbackd/catalog.json"
edit_conf "state_directory = var/state" "state_directory = /var/lib/postbackd/state"
edit_conf "# The example fires at a receiver on 127.0.0.1, so it allows loopback. Restart only." \
    "# A loopback test receiver needs 127.0.0.0/8 here and IPAddressAllow= in a unit drop-in. Restart only."
edit_conf "allow_address = 127.0.0.0/8" "#allow_address = 127.0.0.0/8"
printf '{"postbacks": []}\n' >"$root/etc/postbackd/catalog.json"
chmod 0644 "$root/etc/postbackd/catalog.json"
"$bin/postbackctl" validate "$root/etc/postbackd/catalog.json" >/dev/null

# Man pages, section 8 (system administration): one page a command and subcommand.
man=$root/usr/share/man/man8
install -d "$man" "$work/man"
for exe in postbackd postbackctl; do
    "$generate_manual" "$root/usr/bin/$exe" --multi-page --section 8 \
        --authors "postbackd maintainers" --output-directory "$work/man" >/dev/null
done
# A subcommand's page is named as Debian names them (postbackctl-validate(8), like git-commit(1)),
# so whatis and apropos find it; blank lines, which mdoc does not allow, become paragraphs.
for page in "$work"/man/*.8; do
    name=$(sed -n 's/^\.Nm "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$page" | head -1)
    [ -n "$name" ] || { echo "package: no .Nm name in $page" >&2; exit 1; }
    file=${name// /-}
    sed -e "0,/^\.Nm .*\$/s//.Nm $file/" -e "s/^\.Nm\$/.Nm \"$name\"/" -e '/^\.Dt /{s/\./-/g;s/^-/./}' \
        -e 's/^$/.Pp/' "$page" |
        gzip -9n >"$man/$file.8.gz"
done

# Completions, where bash-completion, zsh and fish look for packaged ones.
for exe in postbackd postbackctl; do
    install -d "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
        "$root/usr/share/fish/vendor_completions.d"
    # bash-completion sources the file, so no #! line (lintian: bash-completion-with-hashbang).
    "$root/usr/bin/$exe" --generate-completion-script bash | sed '1{/^#!/d}' \
        >"$root/usr/share/bash-completion/completions/$exe"
    "$root/usr/bin/$exe" --generate-completion-script zsh >"$root/usr/share/zsh/vendor-completions/_$exe"
    "$root/usr/bin/$exe" --generate-completion-script fish >"$root/usr/share/fish/vendor_completions.d/$exe.fish"
done

doc=$root/usr/share/doc/postbackd
install -D -m 0644 "$tools/copyright" "$doc/copyright"
gzip -9n <"$tools/changelog" >"$doc/changelog.gz"

# Depends from the binaries' shared libraries. dpkg-shlibdeps wants a debian/control beside it
# and a DEBIAN folder in the tree it reads.
install -d "$root/DEBIAN"
mkdir -p "$work/src/debian"
printf 'Source: postbackd\n\nPackage: postbackd\nArchitecture: any\n' >"$work/src/debian/control"
depends=$(cd "$work/src" && dpkg-shlibdeps -O "$root/usr/bin/postbackd" "$root/usr/bin/postbackctl" |
    sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "package: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

find "$root" -type d -exec chmod 0755 {} +
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
    "$tools/control.in" >"$root/DEBIAN/control"
install -m 0644 "$tools/conffiles" "$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do
    install -m 0755 "$tools/$script" "$root/DEBIAN/$script"
done
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort |
    xargs md5sum >DEBIAN/md5sums)

mkdir -p dist
deb=dist/postbackd_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "package: $deb ($(du -h "$deb" | cut -f1)), Depends: $depends, systemd"

if [ "${NO_LINTIAN:-0}" != 1 ]; then
    command -v lintian >/dev/null || { echo "package: lintian not found (scripts/setup.sh --packaging)" >&2; exit 2; }
    lintian_status=0
    lintian --tag-display-limit 0 "$deb" >"$work/lintian.txt" 2>&1 || lintian_status=$?
    cat "$work/lintian.txt"
    if grep -q '^E: ' "$work/lintian.txt" || [ "$lintian_status" -ne 0 ]; then
        echo "package: lintian reports errors" >&2
        exit 1
    fi
    echo "package: lintian reports no error ($(grep -c '^[WIN]: ' "$work/lintian.txt" || true) warnings and notes)"
fi
