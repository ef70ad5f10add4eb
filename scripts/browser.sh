#!/usr/bin/env bash
# Installs what the explorer page and its browser tests need: the page's npm packages (npm ci in
# explorer/, once per package-lock.json) and a headless Chromium from the system's packages (Debian's
# `chromium`; Playwright drives it, so nothing is downloaded from Playwright's own CDN). Missing tools
# are reported, not fatal: the API runs without them, and the browser tests skip saying why.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
explorer="$here/explorer"

install_page_packages() {
    if ! command -v npm >/dev/null 2>&1; then
        echo "kgcrm: npm is missing, so the explorer page has no graph library: install Node.js 18+ and run make install again" >&2
        return 0
    fi
    local want stamp="$explorer/node_modules/.kgcrm-lock-sha256"
    want=$(sha256sum "$explorer/package-lock.json" | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    (
        # Several checkouts' make install may run at once; one npm ci at a time per folder.
        flock 8
        if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
            echo "==> installing the explorer's npm packages (npm ci in explorer/)"
            (cd "$explorer" && npm ci --no-audit --no-fund --loglevel=error)
            echo "$want" > "$stamp"
        fi
    ) 8>"$explorer/.npm-ci.lock"
}

find_chromium() {
    if [ -n "${KGCRM_CHROMIUM:-}" ] && [ -x "$KGCRM_CHROMIUM" ]; then echo "$KGCRM_CHROMIUM"; return 0; fi
    command -v chromium || command -v chromium-browser || return 1
}

install_chromium() {
    if find_chromium >/dev/null; then
        return 0
    fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo="sudo -n"
        else
            echo "kgcrm: no headless Chromium, and installing one needs root: run 'sudo apt-get install -y chromium'" \
                 "(or set KGCRM_CHROMIUM); until then the explorer's browser tests are skipped" >&2
            return 0
        fi
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "kgcrm: no headless Chromium and no apt-get: install Chromium and set KGCRM_CHROMIUM to its path" >&2
        return 0
    fi
    echo "==> installing Chromium for the explorer's browser tests (apt-get install chromium)"
    $sudo apt-get -o DPkg::Lock::Timeout=300 update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq chromium >/dev/null
    find_chromium >/dev/null || { echo "kgcrm: apt-get installed chromium but it is not on the PATH" >&2; return 1; }
}

install_page_packages
install_chromium
