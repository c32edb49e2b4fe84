//! The JSON Schema of the policy file (`schemas/tlsight-policy.schema.json`, for editors) says
//! what the parser accepts: the README's example validates, every rule key the schema lists is
//! one the parser knows, and the condition table of the README lists the same keys.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use tlsight::check::Policy;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn schema() -> Value {
    serde_json::from_slice(
        &std::fs::read(root().join("schemas/tlsight-policy.schema.json")).unwrap(),
    )
    .unwrap()
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).unwrap()
}

/// The README's example policy.
fn example() -> String {
    let readme = readme();
    let start = readme.find("```toml\n").expect("a TOML example") + 8;
    readme[start..start + readme[start..].find("```").unwrap()].to_string()
}

/// A value of the type a rule key's schema asks for, that the parser accepts.
fn sample(key: &str, prop: &Value) -> String {
    match key {
        "min_version" | "offered_min_version" => "\"TLSv1.2\"".into(),
        "post_quantum" => "\"offered\"".into(),
        "severity" => "\"warning\"".into(),
        "max_handshake_ms" => "{ p95 = 100 }".into(),
        "allowed_versions" | "forbidden_versions" | "offered_forbidden_versions" => {
            "[\"TLSv1.0\"]".into()
        }
        k if k.contains("ciphers") => "[\"AES128-SHA\"]".into(),
        k if k.contains("groups") => "[\"x25519\"]".into(),
        k if k.contains("signature_schemes") => "[\"rsa_pkcs1_sha1\"]".into(),
        "forbidden_failure_causes" => "[\"server_reset\"]".into(),
        "forbidden_certificate_findings" => "[\"expired\"]".into(),
        _ => match prop.get("type").and_then(Value::as_str) {
            Some("integer") => "3".into(),
            Some("number") => "0.5".into(),
            Some("string") => "\"x\"".into(),
            Some("array") => "[\"x\"]".into(),
            _ if prop.get("const") == Some(&Value::Bool(true)) => "true".into(),
            _ => panic!("no sample for {key}: {prop}"),
        },
    }
}

#[test]
fn the_readme_example_validates_against_the_schema() {
    let example: Value = toml::from_str(&example()).expect("the example is TOML");
    let validator = jsonschema::validator_for(&schema()).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&example)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // And the schema rejects what the parser rejects.
    let misspelt: Value =
        toml::from_str("[[rule]]\nid = \"a\"\nmin_versoin = \"TLSv1.2\"\n").unwrap();
    assert!(!validator.is_valid(&misspelt));
    let no_condition: Value = toml::from_str("[[rule]]\nid = \"a\"\n").unwrap();
    assert!(!validator.is_valid(&no_condition));
}

#[test]
fn every_key_the_schema_lists_is_one_the_parser_knows() {
    let schema = schema();
    let props = schema["definitions"]["rule"]["properties"]
        .as_object()
        .unwrap();
    for (key, prop) in props {
        if key == "id" {
            continue;
        }
        let mut text = format!("[[rule]]\nid = \"r\"\n{key} = {}\n", sample(key, prop));
        if !schema["definitions"]["rule"]["anyOf"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["required"][0] == key.as_str())
        {
            text.push_str("aead = true\n");
        }
        if let Err(e) = Policy::from_toml(&text, "t.toml") {
            panic!("{key}: {e}\n{text}");
        }
    }
}

#[test]
fn the_readme_table_lists_every_condition_of_the_schema() {
    let schema = schema();
    let conditions: BTreeSet<String> = schema["definitions"]["rule"]["anyOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["required"][0].as_str().unwrap().to_string())
        .collect();
    let readme = readme();
    let table = &readme[readme
        .find("| condition | holds when | judged on |")
        .unwrap()..];
    let table = &table[..table.find("\n\n").unwrap()];
    let mut documented = BTreeSet::new();
    for line in table.lines().skip(2) {
        let first = line.split('|').nth(1).unwrap();
        for part in first.split('`').skip(1).step_by(2) {
            let key = part.split(' ').next().unwrap();
            documented.insert(key.to_string());
        }
    }
    assert_eq!(documented, conditions);
}
