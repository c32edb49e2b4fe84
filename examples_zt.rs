use std::io::Read;
fn main() {
    let m = std::fs::read("/work/wt/keylog/tests/fixtures/compressed_cert/zstd.bin").unwrap();
    let data = &m[8..];
    match ruzstd::decoding::StreamingDecoder::new_with_max_window_size(data, 1<<20) {
        Err(e) => println!("init {e:?}"),
        Ok(mut d) => { let mut out = Vec::new(); println!("{:?} {}", d.read_to_end(&mut out), out.len()); }
    }
    match ruzstd::decoding::StreamingDecoder::new(data) {
        Err(e) => println!("init {e:?}"),
        Ok(mut d) => { let mut out = Vec::new(); println!("{:?} {}", d.read_to_end(&mut out), out.len()); }
    }
}
