//! Where a job's inputs come from: a JSON-lines file (one JSON value per line) or an integer
//! range. Both stream: nothing holds all inputs in memory.

use std::io::BufRead;
use std::ops::Range;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Parse `START..END` (END excluded).
pub fn parse_range(text: &str) -> Result<Range<i64>> {
    let (start, end) = text
        .split_once("..")
        .with_context(|| format!("--range {text}: expected START..END, e.g. 0..1000"))?;
    let start: i64 = start
        .trim()
        .parse()
        .with_context(|| format!("--range {text}: bad start"))?;
    let end: i64 = end
        .trim()
        .parse()
        .with_context(|| format!("--range {text}: bad end"))?;
    if end < start {
        bail!("--range {text}: the end is before the start");
    }
    Ok(start..end)
}

pub fn range(range: Range<i64>) -> impl Iterator<Item = Result<String>> {
    range.map(|n| Ok(n.to_string()))
}

/// The lines of a JSON-lines file (or `-` for stdin), each checked to be one JSON value.
/// Blank lines are skipped.
pub fn json_lines(path: &Path) -> Result<Box<dyn Iterator<Item = Result<String>>>> {
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot read the inputs file {}", path.display()))?;
        Box::new(std::io::BufReader::new(file))
    };
    let name = path.display().to_string();
    Ok(Box::new(
        reader
            .lines()
            .enumerate()
            .filter(|(_, line)| line.as_ref().map_or(true, |l| !l.trim().is_empty()))
            .map(move |(number, line)| {
                let line = line.with_context(|| format!("cannot read {name}"))?;
                serde_json::from_str::<serde_json::Value>(&line)
                    .with_context(|| format!("{name}, line {}: not a JSON value", number + 1))?;
                Ok(line.trim().to_string())
            }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_stream() {
        assert_eq!(parse_range("3..6").unwrap(), 3..6);
        assert!(parse_range("6..3").is_err());
        assert!(parse_range("x").is_err());
        let inputs: Vec<String> = range(0..3).map(Result::unwrap).collect();
        assert_eq!(inputs, ["0", "1", "2"]);
    }

    #[test]
    fn json_lines_are_checked_with_line_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.jsonl");
        std::fs::write(&path, "{\"a\": 1}\n\n[2]\nnot json\n").unwrap();
        let lines: Vec<Result<String>> = json_lines(&path).unwrap().collect();
        assert_eq!(lines[0].as_ref().unwrap(), "{\"a\": 1}");
        assert_eq!(lines[1].as_ref().unwrap(), "[2]");
        let error = lines[2].as_ref().unwrap_err().to_string();
        assert!(error.contains("line 4"), "{error}");
    }
}
