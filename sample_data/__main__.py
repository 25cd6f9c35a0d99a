from sample_data.generator import main

main()
