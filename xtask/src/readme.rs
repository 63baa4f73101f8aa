//! The package's README (`pkg/README.md`): the package's own opening (`worker/README.md`) with the
//! sections of the repository's README.md that speak to users spliced in, so that what npm shows and what
//! the repository shows are one text and never drift apart.

/// Where `worker/README.md` takes the user sections.
const MARK: &str = "<!-- `cargo xtask build` puts here";
/// The first user section of README.md, and the first one after them (building and testing Ferry).
const FIRST: &str = "\n## Quickstart (Vite)\n";
const AFTER: &str = "\n## Prerequisites\n";

/// `opening` (worker/README.md) with its marker line replaced by README.md's user sections.
pub fn package_readme(opening: &str, readme: &str) -> Result<String, String> {
    let at = opening
        .find(MARK)
        .ok_or("worker/README.md has no marker line for the user sections")?;
    let line_end = opening[at..]
        .find('\n')
        .map_or(opening.len(), |n| at + n + 1);
    let start = readme
        .find(FIRST)
        .ok_or("README.md has no \"## Quickstart (Vite)\" section")?
        + 1;
    let end = readme[start..]
        .find(AFTER)
        .map(|n| start + n + 1)
        .ok_or("README.md has no \"## Prerequisites\" section after its user sections")?;
    Ok(format!(
        "{}{}{}",
        &opening[..at],
        &readme[start..end],
        &opening[line_end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::package_readme;
    use std::path::Path;

    fn read(path: &str) -> String {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path))
            .unwrap()
    }

    #[test]
    fn the_package_readme_is_the_opening_then_every_user_section_of_the_readme_then_the_license() {
        let readme = read("README.md");
        let out = package_readme(&read("worker/README.md"), &readme).unwrap();
        assert!(out.starts_with("# ferry-upload\n"));
        assert!(out.contains("npm i ferry-upload"));
        // Every user section, word for word, in order.
        let start = readme.find("\n## Quickstart (Vite)\n").unwrap() + 1;
        let end = readme.find("\n## Prerequisites\n").unwrap() + 1;
        assert!(out.contains(&readme[start..end]));
        for heading in [
            "### `session.uploadAll(items)`",
            "### What holds when the worker stops",
            "## Troubleshooting",
        ] {
            assert!(out.contains(heading), "{heading}");
        }
        // Nothing of building or testing Ferry itself, and no marker left.
        for repo_only in [
            "## Prerequisites",
            "## More commands",
            "## Layout",
            "cargo xtask test      #",
            "puts here the sections",
        ] {
            assert!(!out.contains(repo_only), "{repo_only}");
        }
        assert!(out.trim_end().ends_with("at your option."));
    }

    #[test]
    fn a_missing_marker_or_section_is_an_error_not_a_short_readme() {
        let readme = "# x\n\n## Quickstart (Vite)\nq\n## Prerequisites\np\n";
        assert!(package_readme("# ferry-upload\n", readme).is_err());
        let opening =
            "# ferry-upload\n<!-- `cargo xtask build` puts here the rest -->\n## License\nl\n";
        assert_eq!(
            package_readme(opening, readme).unwrap(),
            "# ferry-upload\n## Quickstart (Vite)\nq\n## License\nl\n"
        );
        assert!(package_readme(opening, "# x\n## Quickstart (Vite)\nq\n").is_err());
        assert!(package_readme(opening, "# x\n## Prerequisites\np\n").is_err());
    }
}
