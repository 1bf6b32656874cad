//! docs/state-machines.md holds the state diagrams and tables rendered from the protocol
//! tables; this test fails when the committed text differs, so the docs cannot drift.
//! `MAILPROTO_UPDATE_DOCS=1 cargo test -p mailproto-core --test state_docs` rewrites them.

use std::path::PathBuf;

use mailproto_core::{pop3, smtp};

const BEGIN: &str = "<!-- generated from ";
const END: &str = "<!-- end of generated text -->";

/// The generated sections: marker name and text.
fn sections() -> Vec<(&'static str, String)> {
    let fenced = |lang: &str, text: String| format!("```{lang}\n{text}```\n");
    vec![
        (
            "smtp::table::state_diagram",
            fenced("mermaid", smtp::table::state_diagram()),
        ),
        ("smtp::table::state_table", smtp::table::state_table()),
        (
            "pop3::table::state_diagram",
            fenced("mermaid", pop3::table::state_diagram()),
        ),
        ("pop3::table::state_table", pop3::table::state_table()),
    ]
}

/// `doc` with every generated section replaced by what the tables give now.
fn regenerate(doc: &str) -> String {
    let mut out = doc.to_string();
    for (name, text) in sections() {
        let begin = format!("{BEGIN}{name} -->\n");
        let start = out
            .find(&begin)
            .unwrap_or_else(|| panic!("docs/state-machines.md lacks the marker {begin:?}"))
            + begin.len();
        let end = start
            + out[start..]
                .find(END)
                .unwrap_or_else(|| panic!("no end marker after {name}"));
        out.replace_range(start..end, &text);
    }
    out
}

#[test]
fn state_machine_docs_match_the_protocol_tables() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/state-machines.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let fresh = regenerate(&doc);
    if std::env::var_os("MAILPROTO_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    assert!(
        doc == fresh,
        "docs/state-machines.md differs from the protocol tables; run \
         MAILPROTO_UPDATE_DOCS=1 cargo test -p mailproto-core --test state_docs"
    );
}
