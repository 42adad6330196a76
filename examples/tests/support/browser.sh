#!/bin/sh
# Stands in for the system browser of examples/native in the tests ($BROWSER): it writes the
# URL the app opens to $CAPTURE_URL_FILE, and the test's Chromium takes it from there.
printf '%s\n' "$1" > "$CAPTURE_URL_FILE.tmp" && mv "$CAPTURE_URL_FILE.tmp" "$CAPTURE_URL_FILE"
