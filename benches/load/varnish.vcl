# Varnish in front of GitHub as an operator would configure it for a shared cache of an org's reads
# (benches/load/compare.sh fills in the port). What differs from Varnish's built-in behaviour, and why:
#  - vcl_recv: the built-in VCL passes every request carrying Authorization, and every GitHub client
#    sends one; reads are looked up anyway (the token is not part of the hash), other methods pass.
#  - vcl_backend_response: GitHub says `Cache-Control: private` and `Vary: Authorization`; the built-in
#    VCL would not cache that, and Vary would split the object per token. Both are ignored for 200s,
#    kept 60 s (as ghpool's default TTL), and Vary is handed back to clients unchanged.
vcl 4.1;

import std;

backend github {
    .host = "127.0.0.1";
    .port = "@FAKE_PORT@";
}

sub vcl_recv {
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    unset req.http.Cookie;
    return (hash);
}

sub vcl_hash {
    hash_data(req.url);
    hash_data(req.http.Accept);
    hash_data(req.http.X-GitHub-Api-Version);
    return (lookup);
}

sub vcl_backend_response {
    if (beresp.status == 200 && !beresp.http.Set-Cookie) {
        std.collect(beresp.http.Vary);
        set beresp.http.X-GitHub-Vary = beresp.http.Vary;
        unset beresp.http.Vary;
        set beresp.ttl = 60s;
        set beresp.grace = 1h;
        return (deliver);
    }
}

sub vcl_deliver {
    if (resp.http.X-GitHub-Vary) {
        set resp.http.Vary = resp.http.X-GitHub-Vary;
        unset resp.http.X-GitHub-Vary;
    }
    set resp.http.X-Cache = "MISS";
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    }
}
