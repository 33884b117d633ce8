//! SVG plots of a bench run (plotters' SVG backend, its built-in text
//! metrics, no fonts needed): per arch and CPU count, the oxbsd/Linux
//! ratio of every row, and teardown time per page against pages touched.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::bench::Row;

const COLORS: [RGBColor; 4] =
    [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(44, 160, 44), RGBColor(214, 39, 40)];

fn err(e: impl std::fmt::Display) -> String {
    format!("plot: {e}")
}

/// Grouped bars: one group per row, one bar per peer, the line at 1 is
/// parity (below it oxbsd is faster). Returns the file written.
pub fn ratios(
    dir: &Path,
    title: &str,
    file: &str,
    rows: &[Row],
    subject: &str,
    peers: &[String],
) -> Result<Option<PathBuf>, String> {
    let rows: Vec<&Row> = rows.iter().filter(|r| !r.ratios.is_empty()).collect();
    if rows.is_empty() || peers.is_empty() {
        return Ok(None);
    }
    let path = dir.join(file);
    let top = rows.iter().flat_map(|r| r.ratios.values()).copied().fold(1.0f64, f64::max) * 1.1;
    let root = SVGBackend::new(&path, (1000, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let n = rows.len();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(110)
        .y_label_area_size(50)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| {
            // Groups are centred on whole numbers; name only those.
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                rows.get(i as usize).map_or(String::new(), |r| r.name.clone())
            } else {
                String::new()
            }
        })
        .x_label_style(("sans-serif", 12).into_font().transform(FontTransform::Rotate90))
        .y_desc(format!("{subject} / peer (median of per-round ratios)"))
        .draw()
        .map_err(err)?;
    let w = 0.8 / peers.len() as f64;
    for (k, p) in peers.iter().enumerate() {
        let c = COLORS[k % COLORS.len()];
        chart
            .draw_series(rows.iter().enumerate().filter_map(|(i, r)| {
                let v = *r.ratios.get(p)?;
                let x0 = i as f64 - 0.4 + k as f64 * w;
                Some(Rectangle::new([(x0, 0.0), (x0 + w, v)], c.filled()))
            }))
            .map_err(err)?
            .label(p.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], c.filled()));
    }
    chart
        .draw_series(std::iter::once(PathElement::new([(-0.5, 1.0), (n as f64 - 0.5, 1.0)], BLACK)))
        .map_err(err)?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    drop(chart);
    drop(root);
    Ok(Some(path))
}

/// One line per series, both axes logarithmic (points at or below zero
/// cannot be drawn there and are left out). None when there is nothing
/// to draw.
pub fn loglog(
    path: &Path,
    title: &str,
    (xdesc, ydesc): (&str, &str),
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<Option<PathBuf>, String> {
    let series: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(n, p)| {
            (n.as_str(), p.iter().copied().filter(|&(x, y)| x > 0.0 && y > 0.0).collect::<Vec<_>>())
        })
        .filter(|(_, p)| !p.is_empty())
        .collect();
    let all: Vec<(f64, f64)> = series.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    if all.len() < 2 {
        return Ok(None);
    }
    let (xmin, xmax, ymin, ymax) =
        all.iter().fold((f64::INFINITY, 0.0f64, f64::INFINITY, 0.0f64), |(a, b, c, d), &(x, y)| {
            (a.min(x), b.max(x), c.min(y), d.max(y))
        });
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((xmin / 2.0..xmax * 2.0).log_scale(), (ymin / 2.0..ymax * 2.0).log_scale())
        .map_err(err)?;
    chart.configure_mesh().x_desc(xdesc).y_desc(ydesc).draw().map_err(err)?;
    for (k, (name, p)) in series.iter().enumerate() {
        let col = COLORS[k % COLORS.len()];
        chart
            .draw_series(std::iter::once(PathElement::new(p.clone(), col.stroke_width(2))))
            .map_err(err)?
            .label(*name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 15, y)], col.stroke_width(2)));
        chart.draw_series(p.iter().map(|&xy| Circle::new(xy, 3, col.filled()))).map_err(err)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(Some(path.to_path_buf()))
}

/// Teardown time per page against pages touched, per configuration.
pub fn teardown(
    dir: &Path,
    title: &str,
    file: &str,
    rows: &[Row],
    configs: &[String],
) -> Result<Option<PathBuf>, String> {
    let series: Vec<(String, Vec<(f64, f64)>)> = configs
        .iter()
        .map(|c| {
            let p = rows
                .iter()
                .filter_map(|r| {
                    let pages: f64 = r.name.strip_prefix("teardown_")?.parse().ok()?;
                    Some((pages, r.values.get(c)?.0 / pages))
                })
                .collect();
            (c.clone(), p)
        })
        .collect();
    loglog(
        &dir.join(file),
        title,
        ("pages touched by the child", "exit to parent's wakeup, ns per page"),
        &series,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn writes_svg_with_the_rows_named() {
        let dir = std::env::temp_dir().join(format!("oxbsd-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let row = |name: &str, v: f64, r: f64| Row {
            name: name.into(),
            values: BTreeMap::from([
                ("ox".to_string(), (v, v, v)),
                ("lx".to_string(), (2.0 * v, v, 3.0 * v)),
            ]),
            ratios: BTreeMap::from([("lx".to_string(), r)]),
        };
        let rows = [row("fork_exit", 1e6, 0.3), row("teardown_16", 1e5, 1.2), row("teardown_4096", 4e6, 0.5)];
        let cfgs = ["ox".to_string(), "lx".to_string()];
        let p = ratios(&dir, "t", "r.svg", &rows, "ox", &cfgs[1..]).unwrap().unwrap();
        let svg = std::fs::read_to_string(p).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("fork_exit") && svg.contains("teardown_4096"));
        let p = teardown(&dir, "t", "t.svg", &rows, &cfgs).unwrap().unwrap();
        assert!(
            teardown(&dir, "t", "u.svg", &rows[..1], &cfgs).unwrap().is_none(),
            "no teardown rows, no plot"
        );
        let svg = std::fs::read_to_string(p).unwrap();
        assert!(svg.contains("<polyline") && svg.contains("pages touched"), "a line and its axis");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
