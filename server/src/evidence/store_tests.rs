use super::*;

/// Paging through a folder with `list_after` gives what `list` gives,
/// in order, and nothing outside the prefix.
#[tokio::test]
async fn a_local_folder_pages_in_key_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::new(dir.path());
    for i in (0..40).rev() {
        store.put(&format!("idx/a{i:02}"), vec![]).await.unwrap();
    }
    store.put("idx/sub/b", vec![]).await.unwrap();
    store.put("idy/a00", vec![]).await.unwrap();
    let page = store.list_after("idx/", "idx/a05", 10).await.unwrap();
    let expected: Vec<String> = (6..16).map(|i| format!("idx/a{i:02}")).collect();
    assert_eq!(page, expected);
    let mut all = Vec::new();
    let mut after = String::from("idx/");
    loop {
        let page = store.list_after("idx/", &after, 7).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.clone();
        all.extend(page);
    }
    assert_eq!(all, store.list("idx/").await.unwrap());
    assert_eq!(all.len(), 41);
    assert!(store
        .list_after("nothing/", "", 5)
        .await
        .unwrap()
        .is_empty());
}
