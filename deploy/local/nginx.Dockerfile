# Stand-in for nginx:1.27 where no registry is reachable: Debian bookworm's nginx (1.22) and gettext-base (envsubst,
# which deploy/nginx/start.sh renders the template with) on the local base image, laid out the way the official
# image is: its main /etc/nginx/nginx.conf (worker processes, error log on stderr, access log on stdout, the
# http block with `keepalive_timeout 65` and `include /etc/nginx/conf.d/*.conf`, nothing from sites-enabled), so
# a conf.d file that works here works there. The compose `proxy` service replaces the entry point with
# deploy/nginx/start.sh, which ends in `nginx -g 'daemon off;'`; SIGQUIT stops it gracefully, as in the image.
ARG BASE_IMAGE=thoibinh/bookworm:base
FROM ${BASE_IMAGE}
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends nginx gettext-base \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/* /etc/nginx/conf.d/* \
 && ln -sf /dev/stdout /var/log/nginx/access.log \
 && ln -sf /dev/stderr /var/log/nginx/error.log
COPY nginx-main.conf /etc/nginx/nginx.conf
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
