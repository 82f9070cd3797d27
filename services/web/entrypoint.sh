#!/bin/sh
# The front end reads its settings at run time from /config.js, written here
# from the container's environment, so one image serves every environment.
set -eu
printf 'window.APP_CONFIG = { apiUrl: "%s", environment: "%s" };\n' \
    "${API_URL:?API_URL is not set}" "${APP_ENV:?APP_ENV is not set}" > /srv/www/config.js
exec httpd -f -v -p "${PORT:-8080}" -h /srv/www
