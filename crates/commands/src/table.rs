//! Tables of list commands, through comfy-table: left-aligned columns two spaces apart, wide
//! characters (CJK, emoji) counted by their display width, and — when the caller's terminal
//! width is known — cells wrapped so the table fits it. The same rows give CSV.

use comfy_table::{CellAlignment, ContentArrangement, TableComponent};

/// A header and rows; every row has as many cells as the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str], rows: Vec<Vec<String>>) -> Self {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows,
        }
    }

    /// The table as text lines; `width` fits it to a terminal of that many columns.
    pub fn render(&self, width: Option<u16>) -> String {
        let mut t = comfy_table::Table::new();
        t.load_preset(comfy_table::presets::NOTHING);
        // Only the gap between columns remains: no borders, no header line.
        for c in [
            TableComponent::LeftBorder,
            TableComponent::RightBorder,
            TableComponent::VerticalLines,
            TableComponent::HeaderLines,
            TableComponent::MiddleHeaderIntersections,
            TableComponent::LeftHeaderIntersection,
            TableComponent::RightHeaderIntersection,
        ] {
            t.remove_style(c);
        }
        match width {
            Some(w) => {
                t.set_content_arrangement(ContentArrangement::Dynamic);
                t.set_width(w);
            }
            None => {
                t.set_content_arrangement(ContentArrangement::Disabled);
            }
        }
        t.set_header(&self.header);
        for row in &self.rows {
            t.add_row(row);
        }
        let last = self.header.len().saturating_sub(1);
        for (i, col) in t.column_iter_mut().enumerate() {
            col.set_padding((0, if i == last { 0 } else { 2 }));
            col.set_cell_alignment(CellAlignment::Left);
        }
        let mut out = String::new();
        for line in t.lines() {
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// The table as RFC 4180 CSV; cells a spreadsheet would run as formulas are defused.
    pub fn csv(&self) -> String {
        let line = |cells: &[String]| {
            let parts: Vec<String> = cells.iter().map(|c| crate::csv::text_cell(c)).collect();
            parts.join(",") + "\r\n"
        };
        let mut out = line(&self.header);
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table::new(
            &["NAME", "EMAIL"],
            vec![
                vec!["ｂｏｂ".into(), "b@example.com".into()],
                vec!["alice".into(), "=cmd|' /C calc'!A0".into()],
            ],
        )
    }

    #[test]
    fn wide_characters_align() {
        let text = table().render(None);
        let lines: Vec<&str> = text.lines().collect();
        let col = |l: &str| {
            let before = &l[..l.find(['b', '=']).unwrap_or(0)];
            comfy_table_width(before)
        };
        assert_eq!(col(lines[1]), col(lines[2]), "{text}");
        assert!(lines[0].starts_with("NAME"), "{text}");
    }

    fn comfy_table_width(s: &str) -> usize {
        // Fullwidth forms take two columns each.
        s.chars()
            .map(|c| {
                if ('\u{ff00}'..='\u{ffef}').contains(&c) {
                    2
                } else {
                    1
                }
            })
            .sum()
    }

    #[test]
    fn fits_the_width_and_writes_csv() {
        let long = Table::new(&["A", "B"], vec![vec!["x".repeat(30), "y".repeat(60)]]);
        assert!(
            long.render(Some(40))
                .lines()
                .all(|l| l.chars().count() <= 40)
        );
        assert_eq!(
            table().csv(),
            "NAME,EMAIL\r\nｂｏｂ,b@example.com\r\nalice,'=cmd|' /C calc'!A0\r\n"
        );
    }
}
