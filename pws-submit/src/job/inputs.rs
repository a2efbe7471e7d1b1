//! Where a job's inputs come from: a JSON-lines file (one JSON value per line) or an integer
//! range. Both stream: nothing holds all inputs in memory.

use std::io::BufRead;
use std::ops::Range;
use std::path::Path;

use anyhow::{Context, Result};

/// Parse `START..END` (END excluded), e.g. `0..1000`: the value parser of `--range`.
pub fn parse_range(text: &str) -> Result<Range<i64>, String> {
    let (start, end) = text
        .split_once("..")
        .ok_or("expected START..END, e.g. 0..1000")?;
    let bound = |name: &str, value: &str| {
        value
            .trim()
            .parse::<i64>()
            .map_err(|e| format!("bad {name} {value:?}: {e}"))
    };
    let range = bound("start", start)?..bound("end", end)?;
    if range.end < range.start {
        return Err("the end is before the start".into());
    }
    Ok(range)
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
    Ok(Box::new(json_lines_of(path.display().to_string(), reader)))
}

/// The checked lines of `reader`, with `name` in error messages.
pub fn json_lines_of(name: String, reader: impl BufRead) -> impl Iterator<Item = Result<String>> {
    reader
        .lines()
        .enumerate()
        .filter(|(_, line)| line.as_ref().map_or(true, |l| !l.trim().is_empty()))
        .map(move |(number, line)| {
            let line = line.with_context(|| format!("cannot read {name}"))?;
            serde_json::from_str::<serde_json::Value>(&line)
                .with_context(|| format!("{name}, line {}: not a JSON value", number + 1))?;
            Ok(line.trim().to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_stream() {
        assert_eq!(parse_range("3..6").unwrap(), 3..6);
        assert_eq!(parse_range(" -2 .. 0").unwrap(), -2..0);
        assert!(
            parse_range("6..3")
                .unwrap_err()
                .contains("before the start")
        );
        assert!(parse_range("x").unwrap_err().contains("START..END"));
        assert!(parse_range("1..y").unwrap_err().contains("bad end"));
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
