//! The PNG of a training run: loss curves and test accuracy per epoch.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use retrograd_nn::metrics::EpochRecord;

/// DejaVu Sans (Bitstream Vera licence, see `assets/DejaVuSans-LICENSE.txt`), embedded so
/// that text renders without system font libraries.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";
const ACCURACY: RGBColor = RGBColor(0, 140, 60);

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_err() {
            panic!("the embedded font is not a valid TrueType font");
        }
    });
}

type DrawResult<T> = Result<T, Box<dyn std::error::Error>>;

/// The image formats the plot can be written in, by file extension (any case).
const PLOT_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

/// Checks that `path` has an extension [`plot_history`] can write, before the training
/// whose plot it is.
pub fn check_plot_path(path: &Path) -> Result<(), String> {
    let extension = path.extension().map(|e| e.to_string_lossy().to_lowercase());
    match extension {
        Some(e) if PLOT_EXTENSIONS.contains(&e.as_str()) => Ok(()),
        _ => Err(format!(
            "--plot {}: the image format follows the extension, which must be .{} (--plot none: no plot)",
            path.display(),
            PLOT_EXTENSIONS.join(", .")
        )),
    }
}

/// Draws two panels side by side — training and test loss, and test accuracy — with a
/// title, axis labels and legends, and writes them to `path` as PNG.
pub fn plot_history(path: &Path, title: &str, history: &[EpochRecord]) -> DrawResult<()> {
    register_font();
    let root = BitMapBackend::new(path, (1200, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, (FAMILY, 26))?;
    let (left, right) = root.split_horizontally(600);

    let last = history.last().map_or(1, |r| r.epoch).max(1) as f64;
    let first = history.first().map_or(0, |r| r.epoch) as f64;
    let x_range = if last > first {
        first..last
    } else {
        first - 0.5..last + 0.5
    };

    let max_loss = history
        .iter()
        .flat_map(|r| [r.train_loss, r.test_loss])
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-3)
        * 1.05;
    let mut chart = ChartBuilder::on(&left)
        .caption("Loss", (FAMILY, 20))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range.clone(), 0.0..max_loss)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc("cross-entropy loss")
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 16))
        .draw()?;
    let series = |f: fn(&EpochRecord) -> f64| -> Vec<(f64, f64)> {
        history.iter().map(|r| (r.epoch as f64, f(r))).collect()
    };
    chart
        .draw_series(LineSeries::new(
            series(|r| r.train_loss),
            BLUE.stroke_width(2),
        ))?
        .label("train loss")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(
            series(|r| r.test_loss),
            RED.stroke_width(2),
        ))?
        .label("test loss")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
    chart
        .configure_series_labels()
        .label_font((FAMILY, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;

    let accuracy: Vec<(f64, f64)> = series(|r| 100.0 * r.test_accuracy);
    let min_acc = accuracy.iter().map(|p| p.1).fold(100.0f64, f64::min);
    let y_low = (min_acc - 5.0).clamp(0.0, 95.0).floor();
    let mut chart = ChartBuilder::on(&right)
        .caption("Test accuracy", (FAMILY, 20))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range, y_low..100.0)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .y_desc("accuracy (%)")
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 16))
        .draw()?;
    chart
        .draw_series(LineSeries::new(accuracy.clone(), ACCURACY.stroke_width(2)))?
        .label("test accuracy")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], ACCURACY.stroke_width(2)));
    chart.draw_series(
        accuracy
            .iter()
            .map(|&p| Circle::new(p, 3, ACCURACY.filled())),
    )?;
    chart
        .configure_series_labels()
        .label_font((FAMILY, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_png() {
        let history: Vec<EpochRecord> = (1..=5)
            .map(|e| EpochRecord {
                epoch: e,
                train_loss: 1.0 / e as f64,
                test_loss: 1.2 / e as f64,
                test_accuracy: 0.8 + 0.03 * e as f64,
                seconds: 0.1,
            })
            .collect();
        let path = std::env::temp_dir().join(format!("retrograd-plot-{}.png", std::process::id()));
        plot_history(&path, "test run", &history).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        // a single epoch must not make an empty axis range
        plot_history(&path, "one epoch", &history[..1]).unwrap();
        std::fs::remove_file(&path).ok();
    }
}
