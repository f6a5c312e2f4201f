//! Issue #6: the deployment files (`Dockerfile`, `conf/k8s/*.yaml`, `conf/ecs/*.json`) agree with the
//! code — the port ghpool listens on, the admin routes the probes hit, where `k8s:` references are
//! read from, which `GHPOOL_*` variables exist, how long a graceful shutdown takes. Every check is a
//! line in [`problems`]; `each_check_catches_its_drift` breaks one fact at a time and expects its
//! check to say so.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use ghpool::admission::classify::{admin_path, AdminPath};
use ghpool::config::{Config, IdentityConfig};
use ghpool::secrets::{Resolver, SecretRef};
use pingora_core::server::configuration::ServerConf;
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Everything that is deployed, as parsed from the repository.
#[derive(Clone)]
struct Manifests {
    dockerfile: String,
    /// `scripts/build-static`, which the Dockerfile runs (issue #18).
    build_static: String,
    server_conf: String,
    deployment: Yaml,
    service: Yaml,
    pdb: Yaml,
    secret: Yaml,
    task: Json,
    ecs_service: Json,
    cloudmap: Json,
    /// The TLS variant (issue #17): the k8s overlay's Certificate and patches, the ECS overrides.
    tls_certificate: Yaml,
    tls_deployment: Yaml,
    tls_service: Yaml,
    tls_kustomization: Yaml,
    ecs_tls: Json,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Yaml {
    serde_yaml::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json(path: &str) -> Json {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn load() -> Manifests {
    Manifests {
        dockerfile: read("Dockerfile"),
        build_static: read("scripts/build-static"),
        server_conf: read("conf/ghpool.yaml"),
        deployment: yaml("conf/k8s/deployment.yaml"),
        service: yaml("conf/k8s/service.yaml"),
        pdb: yaml("conf/k8s/pdb.yaml"),
        secret: yaml("conf/k8s/secret.example.yaml"),
        task: json("conf/ecs/task-definition.json"),
        ecs_service: json("conf/ecs/service.json"),
        cloudmap: json("conf/ecs/cloudmap-service.json"),
        tls_certificate: yaml("conf/k8s/tls/certificate.yaml"),
        tls_deployment: yaml("conf/k8s/tls/deployment-patch.yaml"),
        tls_service: yaml("conf/k8s/tls/service-patch.yaml"),
        tls_kustomization: yaml("conf/k8s/tls/kustomization.yaml"),
        ecs_tls: json("conf/ecs/tls-overrides.json"),
    }
}

/// The final stage's instructions, continuation lines joined: (INSTRUCTION, arguments).
fn final_stage(dockerfile: &str) -> Vec<(String, String)> {
    let joined = dockerfile.replace("\\\n", " ");
    let mut stage = Vec::new();
    for line in joined.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (op, args) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let op = op.to_ascii_uppercase();
        if op == "FROM" {
            stage.clear();
        }
        stage.push((op, args.trim().to_string()));
    }
    stage
}

fn instructions<'a>(stage: &'a [(String, String)], op: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    stage.iter().filter(move |(o, _)| o == op).map(|(_, a)| a.as_str())
}

/// `ENV K=V K2=V2` of the final stage: what every container starts with.
fn dockerfile_env(stage: &[(String, String)]) -> HashMap<String, String> {
    instructions(stage, "ENV")
        .flat_map(str::split_whitespace)
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

fn as_u64(v: &Yaml) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// The ghpool container of the Deployment.
fn container(m: &Manifests) -> &Yaml {
    let containers = m.deployment["spec"]["template"]["spec"]["containers"].as_sequence();
    containers.into_iter().flatten().find(|c| c["name"] == "ghpool").unwrap_or(&Yaml::Null)
}

fn ecs_container(m: &Manifests) -> &Json {
    let containers = m.task["containerDefinitions"].as_array();
    containers.into_iter().flatten().find(|c| c["name"] == "ghpool").unwrap_or(&Json::Null)
}

/// A Kubernetes quantity such as `512Mi` or `1G`, in bytes.
fn bytes(quantity: &str) -> Option<u64> {
    let units =
        [("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("K", 1000), ("M", 1_000_000), ("G", 1_000_000_000)];
    let (digits, scale) =
        units.iter().find_map(|(u, s)| quantity.strip_suffix(u).map(|d| (d, *s))).unwrap_or((quantity, 1));
    digits.parse::<u64>().ok().map(|n| n * scale)
}

/// The settings ghpool ends up with in a container: the image's ENV under the manifest's.
fn effective_config(image_env: &HashMap<String, String>, env: &HashMap<String, String>) -> Result<Config, String> {
    let mut all = image_env.clone();
    all.extend(env.clone());
    // Pure, like `Config::load` without a config file: the image has none (and a developer's
    // ./config.toml must not change what this test sees).
    Config::parse(None, &all).map_err(|issues| format!("the configuration does not load: {issues:?}"))
}

/// The defaults from the code, under the smallest environment that loads.
fn defaults() -> Config {
    let env = HashMap::from([
        ("GHPOOL_PAT_A".to_string(), "ghp_manifestsTESTxxxxxxxxxxxxxxxxxxxxxxxx".to_string()),
        ("GHPOOL_ALLOWED_OWNERS".to_string(), "acme".to_string()),
    ]);
    Config::parse(None, &env).expect("the minimal configuration loads")
}

/// Whether ghpool reads the variable `name`: ghpool warns at start about a `GHPOOL_*` variable it
/// does not read, so ask the configuration itself.
fn config_reads(name: &str) -> bool {
    let env = HashMap::from([
        ("GHPOOL_PAT_A".to_string(), "ghp_manifestsTESTxxxxxxxxxxxxxxxxxxxxxxxx".to_string()),
        ("GHPOOL_ALLOWED_OWNERS".to_string(), "acme".to_string()),
        (name.to_string(), "manifests-probe".to_string()),
    ]);
    match Config::parse(None, &env) {
        Ok(config) => !config.warnings.iter().any(|w| w.starts_with(&format!("{name} is not a ghpool setting"))),
        // Refused by name, or refused for something else: either way the value was read.
        Err(_) => true,
    }
}

/// Which admin route ghpool answers `path` with, classified as the proxy does.
fn admin_route(path: &str) -> Option<AdminPath> {
    let target = ghpool::admission::access::normalize(path, "api.github.com").ok()?;
    admin_path(&target)
}

fn resolve(resolver: &Resolver, reference: &SecretRef) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread().build().map_err(|e| e.to_string())?;
    runtime.block_on(resolver.resolve(reference)).map(drop).map_err(|e| e.to_string())
}

/// What Kubernetes would mount: each secret volume's keys as files, under a temporary directory
/// standing for `secrets_dir`. Then resolve every identity as ghpool does at start.
fn check_k8s_secrets(m: &Manifests, config: &Config, out: &mut Vec<String>) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let pod = &m.deployment["spec"]["template"]["spec"];
    let namespace = m.deployment["metadata"]["namespace"].as_str().unwrap_or("default");
    let mut mounted = 0;
    for mount in container(m)["volumeMounts"].as_sequence().into_iter().flatten() {
        let volumes = pod["volumes"].as_sequence().into_iter().flatten();
        let Some(volume) = volumes.into_iter().find(|v| v["name"] == mount["name"]) else { continue };
        let Some(secret_name) = volume["secret"]["secretName"].as_str() else { continue };
        let mount_path = mount["mountPath"].as_str().unwrap_or("");
        let Ok(relative) = Path::new(mount_path).strip_prefix(&config.secrets_dir) else {
            out.push(format!("secret volume mounted at {mount_path}, outside secrets_dir {:?}", config.secrets_dir));
            continue;
        };
        if m.secret["metadata"]["name"] != secret_name || m.secret["metadata"]["namespace"] != namespace {
            out.push(format!("the volume mounts Secret {namespace}/{secret_name}, secret.example.yaml is another"));
            continue;
        }
        let keys = m.secret["stringData"].as_mapping().or(m.secret["data"].as_mapping());
        for key in keys.into_iter().flatten().filter_map(|(k, _)| k.as_str()) {
            let file = dir.path().join(relative).join(key);
            std::fs::create_dir_all(file.parent().expect("a parent")).expect("mkdir");
            std::fs::write(&file, "placeholder\n").expect("write");
            mounted += 1;
        }
    }
    if mounted == 0 {
        out.push("no secret key is mounted under secrets_dir".to_string());
    }
    let resolver = Resolver::new(dir.path(), Arc::new(|_: &str| None));
    for IdentityConfig { id, token } in &config.identities {
        match token {
            SecretRef::K8s { namespace: ns, .. } if ns != namespace => {
                out.push(format!("identity {id}: {token:?} names namespace {ns}, the Deployment is in {namespace}"))
            }
            SecretRef::K8s { .. } => {
                if let Err(e) = resolve(&resolver, token) {
                    out.push(format!("identity {id}: {token:?} does not resolve in the pod: {e}"));
                }
            }
            other => out.push(format!("identity {id}: {other:?} is not a k8s: reference")),
        }
    }
}

fn check_probe(name: &str, path: Option<&str>, want: AdminPath, out: &mut Vec<String>) {
    let got = path.and_then(admin_route);
    if got != Some(want) {
        out.push(format!("{name} path {path:?} is answered as {got:?}, not {want:?}"));
    }
}

/// What the code and the image decide, which every deployment must match.
struct Facts {
    /// The default listen port.
    port: u64,
    defaults: Config,
    /// Seconds from SIGTERM to exit: `grace_period_seconds` + `graceful_shutdown_timeout_seconds`.
    shutdown: u64,
    server: ServerConf,
    image_env: HashMap<String, String>,
    image_user: String,
    /// `-c <where the image holds conf/ghpool.yaml>`
    conf_args: Vec<String>,
    cmd: Vec<String>,
}

fn check_dockerfile(m: &Manifests, out: &mut Vec<String>) -> Facts {
    let defaults = defaults();
    let port = u64::from(defaults.listen.port());
    let server = ServerConf::from_yaml(&m.server_conf).expect("conf/ghpool.yaml parses");
    let shutdown = server.grace_period_seconds.unwrap_or(300) + server.graceful_shutdown_timeout_seconds.unwrap_or(5);
    let stage = final_stage(&m.dockerfile);
    let image_env = dockerfile_env(&stage);
    if !instructions(&stage, "EXPOSE").flat_map(str::split_whitespace).any(|p| p == port.to_string()) {
        out.push(format!("Dockerfile does not EXPOSE {port}"));
    }
    let built = m.dockerfile.replace("\\\n", " ");
    let locked = |text: &str| {
        text.lines().any(|l| l.contains("cargo build") && l.contains("--locked") && l.contains("--release"))
    };
    let run = |line: &str| line.trim_start().starts_with("RUN ");
    let static_build =
        built.lines().any(|l| run(l) && l.contains("$(scripts/build-static)") && l.contains("cp \"$bin\""))
            && locked(&m.build_static)
            && m.build_static.contains("+crt-static");
    if !static_build {
        out.push(
            "Dockerfile does not ship scripts/build-static's `cargo build --release --locked` (+crt-static)"
                .to_string(),
        );
    }
    if !instructions(&stage, "FROM").any(|from| from.contains("distroless/static")) {
        out.push("the image is not built FROM a distroless/static base".to_string());
    }
    let image_user = instructions(&stage, "USER").last().unwrap_or("root").split(':').next().unwrap_or("").to_string();
    let conf_in_image = instructions(&stage, "COPY")
        .filter_map(|a| a.strip_prefix("conf/ghpool.yaml "))
        .map(str::trim)
        .last()
        .unwrap_or("")
        .to_string();
    let cmd: Vec<String> =
        instructions(&stage, "CMD").filter_map(|a| serde_json::from_str(a).ok()).last().unwrap_or_default();
    let conf_args = vec!["-c".to_string(), conf_in_image.clone()];
    if cmd != conf_args {
        out.push(format!("Dockerfile CMD {cmd:?} does not run with the copied conf {conf_in_image}"));
    }
    match effective_config(&image_env, &HashMap::new()) {
        Ok(c) if u64::from(c.listen.port()) != port => out.push(format!("the image listens on {}", c.listen)),
        Ok(_) => {}
        Err(e) => out.push(format!("Dockerfile ENV: {e}")),
    }
    Facts { port, defaults, shutdown, server, image_env, image_user, conf_args, cmd }
}

/// The Deployment, Service, PodDisruptionBudget and Secret; returns the container's environment.
fn check_k8s(m: &Manifests, f: &Facts, out: &mut Vec<String>) -> HashMap<String, String> {
    let (port, shutdown) = (f.port, f.shutdown);
    let c = container(m);
    let pod = &m.deployment["spec"]["template"]["spec"];
    let http = c["ports"].as_sequence().into_iter().flatten().find(|p| p["name"] == "http");
    let container_port = http.and_then(|p| as_u64(&p["containerPort"]));
    if container_port != Some(port) {
        out.push(format!("k8s containerPort {container_port:?} is not the default listen port {port}"));
    }
    let args: Vec<String> = serde_yaml::from_value(c["args"].clone()).unwrap_or_default();
    if args != f.conf_args {
        out.push(format!("k8s args {args:?} do not name the image's conf"));
    }
    check_probe("readinessProbe", c["readinessProbe"]["httpGet"]["path"].as_str(), AdminPath::Readyz, out);
    check_probe("livenessProbe", c["livenessProbe"]["httpGet"]["path"].as_str(), AdminPath::Healthz, out);
    if !c["startupProbe"].is_null() {
        check_probe("startupProbe", c["startupProbe"]["httpGet"]["path"].as_str(), AdminPath::Healthz, out);
    }
    for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
        if !c[probe].is_null() && c[probe]["httpGet"]["port"] != "http" {
            out.push(format!("{probe} does not probe the http port"));
        }
    }
    let annotations = &m.deployment["spec"]["template"]["metadata"]["annotations"];
    check_probe("prometheus.io/path", annotations["prometheus.io/path"].as_str(), AdminPath::Metrics, out);
    if annotations["prometheus.io/scrape"] != "true" || as_u64(&annotations["prometheus.io/port"]) != Some(port) {
        out.push("prometheus.io/scrape and prometheus.io/port do not point at the http port".to_string());
    }
    let sc = &c["securityContext"];
    let uid = as_u64(&sc["runAsUser"]).or(as_u64(&pod["securityContext"]["runAsUser"]));
    if uid.map(|u| u.to_string()) != Some(f.image_user.clone()) || uid == Some(0) {
        out.push(format!("k8s runAsUser {uid:?} is not the image's non-root USER {}", f.image_user));
    }
    let hardened = sc["readOnlyRootFilesystem"] == true
        && sc["allowPrivilegeEscalation"] == false
        && sc["capabilities"]["drop"].as_sequence().is_some_and(|d| d.iter().any(|c| c == "ALL"))
        && (sc["runAsNonRoot"] == true || pod["securityContext"]["runAsNonRoot"] == true);
    if !hardened {
        out.push("k8s securityContext: read-only root, no privilege escalation, no capabilities, non-root".to_string());
    }
    let k8s_env: HashMap<String, String> = c["env"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e["name"].as_str()?.to_string(), e["value"].as_str()?.to_string())))
        .collect();
    match effective_config(&f.image_env, &k8s_env) {
        Ok(config) => {
            if u64::from(config.listen.port()) != port {
                out.push(format!("the k8s environment makes ghpool listen on {}", config.listen));
            }
            if config.secrets_dir != f.defaults.secrets_dir {
                out.push(format!(
                    "k8s secrets_dir {:?} is not the default {:?}",
                    config.secrets_dir, f.defaults.secrets_dir
                ));
            }
            check_k8s_secrets(m, &config, out);
            let memory = c["resources"]["limits"]["memory"].as_str().and_then(bytes).unwrap_or(0);
            if memory <= config.cache.max_size {
                out.push(format!(
                    "k8s memory limit {memory} B does not exceed the cache bound {}",
                    config.cache.max_size
                ));
            }
        }
        Err(e) => out.push(format!("k8s env: {e}")),
    }
    let writable: Vec<&str> = c["volumeMounts"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter(|v| v["readOnly"] != true)
        .filter_map(|v| v["mountPath"].as_str())
        .collect();
    for (what, path) in [("pid_file", &f.server.pid_file), ("upgrade_sock", &f.server.upgrade_sock)] {
        if !writable.iter().any(|w| Path::new(path).starts_with(w)) {
            out.push(format!("k8s: {what} {path} is not on a writable volume (the root file system is read-only)"));
        }
    }
    let grace = as_u64(&pod["terminationGracePeriodSeconds"]).unwrap_or(30);
    // A preStop sleep delays SIGTERM and counts against the grace period.
    let pre_stop = as_u64(&c["lifecycle"]["preStop"]["sleep"]["seconds"]).unwrap_or(0);
    if grace < shutdown + pre_stop {
        out.push(format!(
            "terminationGracePeriodSeconds {grace} < preStop {pre_stop} s + ghpool's {shutdown} s graceful shutdown"
        ));
    }
    for value in m.secret["stringData"].as_mapping().into_iter().flatten().map(|(_, v)| v) {
        if SecretRef::parse(value.as_str().unwrap_or("")).is_ok_and(|r| matches!(r, SecretRef::Literal(_))) {
            out.push("secret.example.yaml holds something shaped like a token".to_string());
        }
    }

    // The Service and the PodDisruptionBudget select the pods.
    let labels = &m.deployment["spec"]["template"]["metadata"]["labels"];
    let selects = |selector: &Yaml| {
        selector
            .as_mapping()
            .is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| &labels[k.as_str().unwrap_or("")] == v))
    };
    if !selects(&m.service["spec"]["selector"]) || !selects(&m.pdb["spec"]["selector"]["matchLabels"]) {
        out.push("the Service or the PodDisruptionBudget does not select the Deployment's pods".to_string());
    }
    let target = &m.service["spec"]["ports"][0]["targetPort"];
    if !(target == "http" || as_u64(target) == Some(port)) {
        out.push(format!("Service targetPort {target:?} is not the container's http port"));
    }
    if as_u64(&m.pdb["spec"]["minAvailable"]).unwrap_or(0) < 1 {
        out.push("PodDisruptionBudget minAvailable is below 1".to_string());
    }
    k8s_env
}

/// The task definition, the ECS service and the Cloud Map service; returns the variables the task sets.
fn check_ecs(m: &Manifests, f: &Facts, out: &mut Vec<String>) -> Vec<String> {
    let (port, shutdown) = (f.port, f.shutdown);
    let e = ecs_container(m);
    let ecs_port = e["portMappings"].as_array().into_iter().flatten().find_map(|p| p["containerPort"].as_u64());
    if ecs_port != Some(port) {
        out.push(format!("ECS containerPort {ecs_port:?} is not the default listen port {port}"));
    }
    if e["user"].as_str() != Some(f.image_user.as_str()) || e["user"] == "0" || e["readonlyRootFilesystem"] != true {
        out.push(format!("ECS user {} / readonlyRootFilesystem do not match the non-root image", e["user"]));
    }
    let command: Vec<String> = serde_json::from_value(e["command"].clone()).unwrap_or_else(|_| f.cmd.clone());
    if command != f.conf_args {
        out.push(format!("ECS command {command:?} does not name the image's conf"));
    }
    let mut ecs_env: HashMap<String, String> = HashMap::new();
    for var in e["environment"].as_array().into_iter().flatten() {
        ecs_env.insert(var["name"].as_str().unwrap_or("").to_string(), var["value"].as_str().unwrap_or("").to_string());
    }
    // ECS puts each of `secrets` into the environment at start.
    let injected: Vec<String> =
        e["secrets"].as_array().into_iter().flatten().filter_map(|s| s["name"].as_str().map(String::from)).collect();
    let injected_env: HashMap<String, String> =
        injected.iter().map(|n| (n.clone(), "placeholder".to_string())).collect();
    match effective_config(&f.image_env, &ecs_env) {
        Ok(config) => {
            let lookup = injected_env.clone();
            let resolver = Resolver::new("/nonexistent", Arc::new(move |k: &str| lookup.get(k).cloned()));
            for IdentityConfig { id, token } in &config.identities {
                match token {
                    SecretRef::Env(_) => {
                        if let Err(err) = resolve(&resolver, token) {
                            out.push(format!("ECS identity {id}: {token:?}: {err} (not in the task's secrets)"));
                        }
                    }
                    SecretRef::AwsSecretsManager { .. } if !m.task["taskRoleArn"].is_string() => {
                        out.push(format!("ECS identity {id}: {token:?} needs a taskRoleArn to fetch it"))
                    }
                    SecretRef::AwsSecretsManager { .. } => {}
                    other => out.push(format!("ECS identity {id}: {other:?} cannot resolve in a Fargate task")),
                }
            }
            let memory = m.task["memory"].as_str().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0) << 20;
            if memory <= config.cache.max_size {
                out.push(format!("ECS task memory {memory} B does not exceed the cache bound"));
            }
        }
        Err(err) => out.push(format!("ECS environment: {err}")),
    }
    let ecs_writable: Vec<&str> = e["mountPoints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["readOnly"] != true)
        .filter_map(|p| p["containerPath"].as_str())
        .collect();
    if !ecs_writable.iter().any(|w| Path::new(&f.server.upgrade_sock).starts_with(w)) {
        out.push(format!("ECS: upgrade_sock {} is not on a writable mount", f.server.upgrade_sock));
    }
    if e["stopTimeout"].as_u64().unwrap_or(30) < shutdown {
        out.push(format!("ECS stopTimeout {} < ghpool's {shutdown} s graceful shutdown", e["stopTimeout"]));
    }
    if e["logConfiguration"]["logDriver"] != "awslogs" || !e["healthCheck"].is_null() {
        out.push("ECS: awslogs, and no container healthCheck (distroless has no shell or curl)".to_string());
    }
    let registered = m.ecs_service["serviceRegistries"][0]["registryArn"].as_str().unwrap_or("");
    if !registered.starts_with("arn:aws:servicediscovery:") || m.ecs_service["taskDefinition"] != m.task["family"] {
        out.push(
            "ECS service: serviceRegistries must name the Cloud Map service, taskDefinition the family".to_string(),
        );
    }
    let records = m.cloudmap["DnsConfig"]["DnsRecords"].as_array();
    if !records.into_iter().flatten().any(|r| r["Type"] == "A") || !m.cloudmap["HealthCheckCustomConfig"].is_object() {
        out.push("Cloud Map service: an A record and HealthCheckCustomConfig (ECS reports task health)".to_string());
    }
    ecs_env.into_keys().chain(injected).collect()
}

/// Every disagreement between the deployment files and the code.
/// `name → value` of a k8s `env` list or an ECS `environment` list.
fn env_list(list: impl IntoIterator<Item = (Option<String>, Option<String>)>) -> HashMap<String, String> {
    list.into_iter().filter_map(|(k, v)| Some((k?, v?))).collect()
}

/// The TLS variant (issue #17): the k8s overlay — a cert-manager Certificate whose Secret the
/// patched Deployment mounts and names in `GHPOOL_TLS_CERT`/`_KEY`, TLS on the port its probes,
/// Service and `GHPOOL_LISTEN` use — and the ECS overrides, each loading as a configuration with
/// TLS over its base. Returns the variables they set.
fn check_tls(m: &Manifests, f: &Facts, k8s_env: &HashMap<String, String>, out: &mut Vec<String>) -> Vec<String> {
    let namespace = m.deployment["metadata"]["namespace"].as_str().unwrap_or("default");
    let service = m.service["metadata"]["name"].as_str().unwrap_or("ghpool");
    let cert = &m.tls_certificate;
    let secret = cert["spec"]["secretName"].as_str().unwrap_or("");
    if cert["kind"] != "Certificate" || cert["metadata"]["namespace"] != namespace || secret.is_empty() {
        out.push(format!("tls/certificate.yaml is no Certificate in {namespace} with a secretName"));
    }
    let service_host = format!("{service}.{namespace}.svc.cluster.local");
    if !cert["spec"]["dnsNames"].as_sequence().is_some_and(|n| n.iter().any(|d| d == service_host.as_str())) {
        out.push(format!("the Certificate does not name the Service, {service_host}"));
    }
    let resources = m.tls_kustomization["resources"].as_sequence().cloned().unwrap_or_default();
    let patches: Vec<&str> =
        m.tls_kustomization["patches"].as_sequence().into_iter().flatten().filter_map(|p| p["path"].as_str()).collect();
    if !resources.iter().any(|r| r == "certificate.yaml")
        || !patches.contains(&"deployment-patch.yaml")
        || !patches.contains(&"service-patch.yaml")
    {
        out.push("tls/kustomization.yaml does not apply the Certificate and both patches".to_string());
    }
    let c = m.tls_deployment["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == "ghpool")
        .cloned()
        .unwrap_or(Yaml::Null);
    let patch_env = env_list(
        c["env"]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(|e| (e["name"].as_str().map(String::from), e["value"].as_str().map(String::from))),
    );
    let mut env = k8s_env.clone();
    env.extend(patch_env.clone());
    let https = c["ports"].as_sequence().into_iter().flatten().find(|p| p["name"] == "https");
    let tls_port = https.and_then(|p| as_u64(&p["containerPort"]));
    match effective_config(&f.image_env, &env) {
        Ok(config) => {
            if config.tls.is_none() || Some(u64::from(config.listen.port())) != tls_port {
                out.push(format!("the TLS Deployment does not listen with TLS on its https port {tls_port:?}"));
            }
            if !config.public_url.as_deref().is_some_and(|u| u.starts_with("https://")) {
                out.push("the TLS Deployment's public_url is not https://".to_string());
            }
            // The Secret cert-manager writes, mounted as the patch says: do the references resolve?
            let dir = tempfile::tempdir().expect("temporary directory");
            let pod = &m.tls_deployment["spec"]["template"]["spec"];
            for mount in c["volumeMounts"].as_sequence().into_iter().flatten() {
                let volumes = pod["volumes"].as_sequence().into_iter().flatten();
                let Some(volume) = volumes.into_iter().find(|v| v["name"] == mount["name"]) else { continue };
                if volume["secret"]["secretName"] != secret {
                    continue;
                }
                let mount_path = mount["mountPath"].as_str().unwrap_or("");
                let Ok(relative) = Path::new(mount_path).strip_prefix(&config.secrets_dir) else { continue };
                for key in ["tls.crt", "tls.key"] {
                    let file = dir.path().join(relative).join(key);
                    std::fs::create_dir_all(file.parent().expect("a parent")).expect("mkdir");
                    std::fs::write(&file, "placeholder\n").expect("write");
                }
            }
            let resolver = Resolver::new(dir.path(), Arc::new(|_: &str| None));
            if let Some(tls) = &config.tls {
                for reference in [&tls.cert, &tls.key] {
                    match reference {
                        SecretRef::K8s { name, .. } if name == secret => {
                            if let Err(e) = resolve(&resolver, reference) {
                                out.push(format!("TLS: {reference:?} does not resolve in the pod: {e}"));
                            }
                        }
                        other => out.push(format!("TLS: {other:?} is not the Certificate's Secret {secret}")),
                    }
                }
            }
        }
        Err(e) => out.push(format!("the TLS Deployment: {e}")),
    }
    for (probe, want) in [
        ("startupProbe", AdminPath::Healthz),
        ("readinessProbe", AdminPath::Readyz),
        ("livenessProbe", AdminPath::Healthz),
    ] {
        let get = &c[probe]["httpGet"];
        check_probe(probe, get["path"].as_str(), want, out);
        if get["scheme"] != "HTTPS" || get["port"] != "https" {
            out.push(format!("the TLS {probe} does not speak HTTPS to the https port"));
        }
    }
    let ports = m.tls_service["spec"]["ports"].as_sequence().cloned().unwrap_or_default();
    if !ports.iter().any(|p| p["targetPort"] == "https") || ports.iter().any(|p| p["targetPort"] == "http") {
        out.push("the TLS Service does not target only the https port".to_string());
    }
    // ECS: the overrides over the task's own environment.
    let ecs_env = |list: &Json| {
        env_list(
            list.as_array()
                .into_iter()
                .flatten()
                .map(|e| (e["name"].as_str().map(String::from), e["value"].as_str().map(String::from))),
        )
    };
    let task_env = ecs_env(&ecs_container(m)["environment"]);
    let overrides = ecs_env(&m.ecs_tls["environment"]);
    let mut ecs_env = task_env;
    ecs_env.extend(overrides.clone());
    let ecs_port = m.ecs_tls["portMappings"][0]["containerPort"].as_u64();
    match effective_config(&f.image_env, &ecs_env) {
        Ok(config) => {
            let aws = |r: &SecretRef| matches!(r, SecretRef::AwsSecretsManager { .. });
            if !config.tls.as_ref().is_some_and(|t| aws(&t.cert) && aws(&t.key)) {
                out.push("the ECS TLS overrides do not take the pair from Secrets Manager".to_string());
            }
            if Some(u64::from(config.listen.port())) != ecs_port {
                out.push(format!("the ECS TLS portMappings {ecs_port:?} is not where it listens"));
            }
        }
        Err(e) => out.push(format!("the ECS TLS overrides: {e}")),
    }
    patch_env.into_keys().chain(overrides.into_keys()).collect()
}

fn problems(m: &Manifests) -> Vec<String> {
    let mut out = Vec::new();
    let facts = check_dockerfile(m, &mut out);
    let k8s_env = check_k8s(m, &facts, &mut out);
    let ecs_names = check_ecs(m, &facts, &mut out);
    let tls_names = check_tls(m, &facts, &k8s_env, &mut out);
    // Every GHPOOL_* variable any of them sets is one ghpool reads.
    let names = facts.image_env.keys().chain(k8s_env.keys()).chain(ecs_names.iter()).chain(tls_names.iter());
    let mut names: Vec<&String> = names.filter(|n| n.starts_with("GHPOOL_")).collect();
    names.sort();
    names.dedup();
    for name in names {
        if !config_reads(name) {
            out.push(format!("{name} is not a variable ghpool reads"));
        }
    }
    out
}

#[test]
fn manifests_agree_with_the_code() {
    let found = problems(&load());
    assert!(found.is_empty(), "deployment files disagree with the code:\n  {}", found.join("\n  "));
}

/// The Deployment's pod spec, its ghpool container and the ECS container, for editing.
fn tls_ctr_mut(m: &mut Manifests) -> &mut Yaml {
    &mut m.tls_deployment["spec"]["template"]["spec"]["containers"][0]
}

fn pod_mut(m: &mut Manifests) -> &mut Yaml {
    &mut m.deployment["spec"]["template"]["spec"]
}

fn ctr_mut(m: &mut Manifests) -> &mut Yaml {
    &mut pod_mut(m)["containers"][0]
}

fn ecs_mut(m: &mut Manifests) -> &mut Json {
    &mut m.task["containerDefinitions"][0]
}

fn k8s_env_value<'a>(m: &'a mut Manifests, name: &str) -> &'a mut Yaml {
    let env = ctr_mut(m)["env"].as_sequence_mut().expect("env");
    &mut env.iter_mut().find(|e| e["name"] == name).expect("variable")["value"]
}

fn ecs_env_value<'a>(m: &'a mut Manifests, name: &str) -> &'a mut Json {
    let env = ecs_mut(m)["environment"].as_array_mut().expect("environment");
    &mut env.iter_mut().find(|e| e["name"] == name).expect("variable")["value"]
}

/// Name, how a file drifts, text of the problem that must be reported.
type Drift = (&'static str, fn(&mut Manifests), &'static str);

#[test]
fn each_check_catches_its_drift() {
    let drifts: &[Drift] = &[
        ("k8s port", |m| ctr_mut(m)["ports"][0]["containerPort"] = 8081.into(), "k8s containerPort"),
        ("ecs port", |m| ecs_mut(m)["portMappings"][0]["containerPort"] = 8081.into(), "ECS containerPort"),
        ("expose", |m| m.dockerfile = m.dockerfile.replace("EXPOSE 8080", "EXPOSE 8081"), "EXPOSE"),
        ("image listen", |m| m.dockerfile = m.dockerfile.replace("0.0.0.0:8080", "0.0.0.0:9090"), "the image listens"),
        ("unlocked", |m| m.build_static = m.build_static.replace("--locked", ""), "--locked"),
        ("dynamic", |m| m.build_static = m.build_static.replace("+crt-static", ""), "+crt-static"),
        (
            "base",
            |m| m.dockerfile = m.dockerfile.replace("distroless/static-debian12", "distroless/cc-debian12"),
            "distroless/static",
        ),
        ("cmd", |m| m.dockerfile = m.dockerfile.replace("\"/etc/ghpool/ghpool.yaml\"]", "\"/x.yaml\"]"), "CMD"),
        ("readiness", |m| ctr_mut(m)["readinessProbe"]["httpGet"]["path"] = "/ready".into(), "readinessProbe"),
        ("liveness", |m| ctr_mut(m)["livenessProbe"]["httpGet"]["path"] = "/readyz".into(), "livenessProbe"),
        ("startup", |m| ctr_mut(m)["startupProbe"]["httpGet"]["path"] = "/stats".into(), "startupProbe"),
        ("probe port", |m| ctr_mut(m)["readinessProbe"]["httpGet"]["port"] = 9090.into(), "http port"),
        ("metrics path", |m| pod_annotation(m, "prometheus.io/path", "/stats"), "prometheus.io/path"),
        ("metrics port", |m| pod_annotation(m, "prometheus.io/port", "9090"), "prometheus.io/port"),
        ("mount", |m| ctr_mut(m)["volumeMounts"][0]["mountPath"] = "/var/secrets/x".into(), "outside secrets_dir"),
        ("secrets dir", |m| *k8s_env_value(m, "GHPOOL_SECRETS_DIR") = "/run/secrets".into(), "secrets_dir"),
        ("k8s key", |m| *k8s_env_value(m, "GHPOOL_PAT_B") = "k8s:ghpool/ghpool-tokens:c".into(), "does not resolve"),
        ("k8s name", |m| *k8s_env_value(m, "GHPOOL_PAT_B") = "k8s:ghpool/other-tokens:b".into(), "does not resolve"),
        ("k8s ns", |m| *k8s_env_value(m, "GHPOOL_PAT_B") = "k8s:tools/ghpool-tokens:b".into(), "names namespace"),
        ("k8s env ref", |m| *k8s_env_value(m, "GHPOOL_PAT_B") = "env:TOKEN".into(), "not a k8s: reference"),
        ("secret name", |m| m.secret["metadata"]["name"] = "tokens".into(), "secret.example.yaml is another"),
        ("unknown var", |m| ctr_mut(m)["env"][0]["name"] = "GHPOOL_SECRET_DIR".into(), "GHPOOL_SECRET_DIR is not"),
        ("ecs unknown", |m| ecs_mut(m)["environment"][0]["name"] = "GHPOOL_OWNERS".into(), "GHPOOL_OWNERS is not"),
        ("bad value", |m| *k8s_env_value(m, "GHPOOL_ALLOWED_OWNERS") = "a/b".into(), "k8s env"),
        ("ecs env ref", |m| *ecs_env_value(m, "GHPOOL_PAT_A") = "env:GITHUB_TOKEN".into(), "not in the task's secrets"),
        ("ecs k8s ref", |m| *ecs_env_value(m, "GHPOOL_PAT_A") = "k8s:a/b:c".into(), "cannot resolve in a Fargate"),
        (
            "tls secret",
            |m| m.tls_certificate["spec"]["secretName"] = "other-tls".into(),
            "not the Certificate's Secret",
        ),
        ("tls dns", |m| m.tls_certificate["spec"]["dnsNames"] = Yaml::Sequence(vec![]), "does not name the Service"),
        ("tls probe", |m| tls_ctr_mut(m)["readinessProbe"]["httpGet"]["scheme"] = "HTTP".into(), "speak HTTPS"),
        ("tls port", |m| tls_ctr_mut(m)["ports"][1]["containerPort"] = 9443.into(), "https port"),
        ("tls service", |m| m.tls_service["spec"]["ports"][1]["targetPort"] = "http".into(), "only the https port"),
        ("tls mount", |m| tls_ctr_mut(m)["volumeMounts"][0]["mountPath"] = "/etc/other".into(), "does not resolve"),
        ("ecs tls port", |m| m.ecs_tls["portMappings"][0]["containerPort"] = 8080.into(), "ECS TLS portMappings"),
        ("ecs tls ref", |m| m.ecs_tls["environment"][1]["value"] = "env:CERT".into(), "Secrets Manager"),
        ("ecs no task role", |m| m.task["taskRoleArn"] = Json::Null, "taskRoleArn"),
        ("grace", |m| pod_mut(m)["terminationGracePeriodSeconds"] = 20.into(), "terminationGracePeriodSeconds"),
        ("stop timeout", |m| ecs_mut(m)["stopTimeout"] = 10.into(), "stopTimeout"),
        ("slow drain", |m| m.server_conf = m.server_conf.replace(": 20", ": 60"), "graceful shutdown"),
        ("no tmp", |m| ctr_mut(m)["volumeMounts"].as_sequence_mut().expect("mounts").truncate(1), "upgrade_sock"),
        ("ecs no tmp", |m| ecs_mut(m)["mountPoints"] = Json::Array(vec![]), "ECS: upgrade_sock"),
        ("root", |m| ctr_mut(m)["securityContext"]["runAsUser"] = 0.into(), "runAsUser"),
        ("image user", |m| m.dockerfile = m.dockerfile.replace("USER 65532", "USER 10001"), "runAsUser"),
        ("rw root", |m| ctr_mut(m)["securityContext"]["readOnlyRootFilesystem"] = false.into(), "read-only root"),
        ("caps", |m| ctr_mut(m)["securityContext"]["capabilities"]["drop"] = Yaml::Null, "no capabilities"),
        ("ecs root", |m| ecs_mut(m)["user"] = "0".into(), "ECS user"),
        ("ecs rw root", |m| ecs_mut(m)["readonlyRootFilesystem"] = false.into(), "readonlyRootFilesystem"),
        ("ecs command", |m| ecs_mut(m)["command"][1] = "/x.yaml".into(), "ECS command"),
        ("ecs health", |m| ecs_mut(m)["healthCheck"] = serde_json::json!({"command": ["CMD", "curl"]}), "healthCheck"),
        ("args", |m| ctr_mut(m)["args"][1] = "/etc/ghpool/other.yaml".into(), "k8s args"),
        ("token in example", |m| m.secret["stringData"]["a"] = "ghp_0123456789abcdef".into(), "shaped like a token"),
        ("service port", |m| m.service["spec"]["ports"][0]["targetPort"] = "web".into(), "targetPort"),
        ("pdb selector", |m| m.pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] = "x".into(), "select"),
        ("pdb zero", |m| m.pdb["spec"]["minAvailable"] = 0.into(), "minAvailable"),
        ("memory", |m| ctr_mut(m)["resources"]["limits"]["memory"] = "128Mi".into(), "memory limit"),
        ("ecs memory", |m| m.task["memory"] = "256".into(), "ECS task memory"),
        ("cloud map", |m| m.cloudmap["DnsConfig"]["DnsRecords"][0]["Type"] = "SRV".into(), "Cloud Map"),
        ("cloud map health", |m| m.cloudmap["HealthCheckCustomConfig"] = Json::Null, "Cloud Map"),
        ("ecs registry", |m| m.ecs_service["serviceRegistries"] = Json::Array(vec![]), "serviceRegistries"),
        ("ecs family", |m| m.ecs_service["taskDefinition"] = "other".into(), "serviceRegistries"),
    ];
    let base = load();
    assert!(problems(&base).is_empty(), "the files as committed must pass first");
    for (name, drift, expected) in drifts {
        let mut m = base.clone();
        drift(&mut m);
        let found = problems(&m);
        assert!(
            found.iter().any(|p| p.contains(expected)),
            "{name}: expected a problem with {expected:?}, got {found:?}"
        );
    }
}

fn pod_annotation(m: &mut Manifests, key: &str, value: &str) {
    m.deployment["spec"]["template"]["metadata"]["annotations"][key] = value.into();
}
