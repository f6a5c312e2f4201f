//! A verified client certificate's names (mutual TLS, issue #17): what fairness keys a client by
//! (`client_key = "certificate"`), what an agent may be named by (`[[agents]]
//! certificate_subject`), and what `/stats` counts.
//!
//! Owns: reading the names from the certificate (its subject, the subject's common name, its DNS,
//! URI and e-mail alternative names), bounded and printable.
//! Must never: be made from a certificate the handshake did not verify (`tls` attaches it only
//! with a client CA).

/// The longest name kept.
const MAX_NAME: usize = 256;
/// At most this many alternative names are kept.
const MAX_SANS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// The subject, RFC 4514-like (`CN=agent-1, O=acme`).
    pub subject: String,
    pub common_name: Option<String>,
    /// DNS names, URIs (`spiffe://…`) and e-mail addresses.
    pub alternative_names: Vec<String>,
}

/// Printable ASCII, bounded: a name that is shown and compared, never interpreted.
fn clean(text: &str) -> Option<String> {
    let text: String = text.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').take(MAX_NAME).collect();
    let text = text.trim().to_string();
    (!text.is_empty()).then_some(text)
}

impl ClientCertificate {
    pub fn from_der(der: &[u8]) -> Option<ClientCertificate> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let subject = clean(&cert.subject().to_string()).unwrap_or_default();
        let common_name = cert.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).and_then(clean);
        let mut alternative_names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                let text = match name {
                    GeneralName::DNSName(n) | GeneralName::URI(n) | GeneralName::RFC822Name(n) => clean(n),
                    _ => None,
                };
                alternative_names.extend(text);
                if alternative_names.len() == MAX_SANS {
                    break;
                }
            }
        }
        Some(ClientCertificate { subject, common_name, alternative_names })
    }

    /// The client's name: its common name, else its first alternative name, else its subject.
    pub fn name(&self) -> &str {
        self.common_name.as_deref().or(self.alternative_names.first().map(String::as_str)).unwrap_or(&self.subject)
    }

    /// Does `wanted` name this certificate: its whole subject, its common name, or one of its
    /// alternative names (exactly)?
    pub fn is_named(&self, wanted: &str) -> bool {
        let wanted = wanted.trim();
        !wanted.is_empty()
            && (self.subject == wanted
                || self.common_name.as_deref() == Some(wanted)
                || self.alternative_names.iter().any(|n| n == wanted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_is_named_by_its_subject_common_name_and_alternative_names_17() {
        let mut params = rcgen::CertificateParams::new(vec!["agent-1.fleet.internal".to_string()]).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, "agent-1");
        params.distinguished_name.push(rcgen::DnType::OrganizationName, "acme");
        params
            .subject_alt_names
            .push(rcgen::SanType::URI(rcgen::string::Ia5String::try_from("spiffe://acme/agent-1").unwrap()));
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let named = ClientCertificate::from_der(cert.der()).unwrap();
        assert_eq!(named.name(), "agent-1");
        assert!(named.subject.contains("CN=agent-1") && named.subject.contains("O=acme"), "{}", named.subject);
        for wanted in ["agent-1", "agent-1.fleet.internal", "spiffe://acme/agent-1", named.subject.as_str()] {
            assert!(named.is_named(wanted), "{wanted}");
        }
        for not in ["agent-2", "agent", "", "acme"] {
            assert!(!named.is_named(not), "{not}");
        }
        assert_eq!(ClientCertificate::from_der(b"not a certificate"), None);
    }
}
